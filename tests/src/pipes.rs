//! Running a tool with its stdout and/or stderr closed, as in `TOOL | head -0`: the CLI tests
//! of every tool that writes a stream check that it ends quietly, never panics and never
//! hangs.

/// Runs `cmd` with `input` on stdin and stdout and/or stderr closed (their reader gone, as in
/// `TOOL | head -0` or `TOOL 2>&1 >/dev/null | head -0`), the other one read; returns the
/// exit code and what the open stream got. Fails when the tool has not ended within 60 s.
pub fn with_closed(
    mut cmd: std::process::Command,
    input: Vec<u8>,
    close_out: bool,
    close_err: bool,
) -> (Option<i32>, String) {
    use std::io::{Read, Write};
    use std::process::Stdio;
    let mut child =
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || drop(stdin.write_all(&input)));
    let out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    let read = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = r.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let reader = match (close_out, close_err) {
        (true, false) => {
            drop(out);
            Some(read(Box::new(err)))
        }
        (false, true) => {
            drop(err);
            Some(read(Box::new(out)))
        }
        _ => {
            drop((out, err));
            None
        }
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the tool did not end within 60 s with a closed pipe");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    writer.join().unwrap();
    (status.code(), reader.map(|r| r.join().unwrap()).unwrap_or_default())
}
