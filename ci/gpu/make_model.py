"""Makes the GPU acceptance run's model on the spot (nothing can be downloaded on the GPU
machine): a random-weight Llama of about 1B parameters in bf16, with a byte-level BPE
tokenizer trained here on generated text, saved as a Hugging Face model directory.

usage: python3 make_model.py OUT_DIR
"""

import json
import random
import sys
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

VOCAB = 8192
WORDS = [
    "the", "model", "server", "token", "latency", "throughput", "request", "cluster", "node",
    "batch", "decode", "prefill", "cache", "kernel", "memory", "bandwidth", "tensor", "layer",
    "attention", "expert", "router", "client", "stream", "queue", "schedule", "warmup", "run",
    "metric", "regression", "baseline", "history", "verdict", "report", "alpha", "beta",
    "gamma", "delta", "epsilon", "zeta", "theta", "lambda", "sigma", "omega", "quick", "brown",
    "fox", "jumps", "over", "lazy", "dog", "and", "of", "to", "in", "is", "for", "on", "with",
]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def corpus(lines: int):
    rng = random.Random(7)
    for _ in range(lines):
        n = rng.randint(8, 40)
        words = [rng.choice(WORDS) for _ in range(n)]
        # Some digits and odd fragments so the byte-level merges cover more than words.
        words.append(str(rng.randint(0, 99999)))
        words.append("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(6)))
        yield " ".join(words) + "."


def tokenizer(out: Path) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB,
        special_tokens=["<s>", "</s>", "<unk>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(corpus(40000), trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", tok.token_to_id("<s>"))]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out)
    return fast


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    tok = tokenizer(out)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=2048,
        intermediate_size=8192,
        num_hidden_layers=16,
        num_attention_heads=32,
        num_key_value_heads=8,
        max_position_embeddings=4096,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        tie_word_embeddings=True,
        torch_dtype="bfloat16",
    )
    torch.manual_seed(0)
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        model = LlamaForCausalLM(config).to(torch.bfloat16)
    params = sum(p.numel() for p in model.parameters())
    model.save_pretrained(out, safe_serialization=True)
    print(json.dumps({"model_dir": str(out), "parameters": params, "vocab": len(tok)}))


if __name__ == "__main__":
    main()
