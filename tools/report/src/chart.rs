//! Charts as SVG text, drawn by plotters' SVG backend (which escapes every text it writes, so
//! data in labels cannot break out of the SVG): a trend chart per series and a Pareto chart
//! per concurrency sweep.

use perfline::cli::{Failure, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

pub const TREND_SIZE: (u32, u32) = (360, 190);
pub const PARETO_SIZE: (u32, u32) = (520, 320);
const FONT: &str = "sans-serif";

/// What a marker says: the verdict's colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tone {
    Bad,
    Good,
    Warn,
    Neutral,
}

impl Tone {
    fn color(self) -> RGBColor {
        match self {
            Tone::Bad => RED_,
            Tone::Good => GREEN_,
            Tone::Warn => ORANGE_,
            Tone::Neutral => BLUE_,
        }
    }
}

const RED_: RGBColor = RGBColor(0xd6, 0x27, 0x28);
const GREEN_: RGBColor = RGBColor(0x2c, 0xa0, 0x2c);
const ORANGE_: RGBColor = RGBColor(0xe3, 0x7b, 0x0b);
const BLUE_: RGBColor = RGBColor(0x1f, 0x77, 0xb4);
/// Confirmation re-runs on trend charts.
pub const PURPLE: RGBColor = RGBColor(0x7b, 0x3f, 0xb5);
const GREY: RGBColor = RGBColor(0x88, 0x88, 0x88);
const GRID: RGBColor = RGBColor(0xe6, 0xe6, 0xe6);

/// One series over the runs shown: x is the run's position (0 = oldest shown).
#[derive(Clone, Debug, Default)]
pub struct Trend {
    /// Caption: metric and unit.
    pub title: String,
    /// Axis labels of the positions (dates or commits), oldest first.
    pub runs: Vec<String>,
    /// Positions of confirmation re-runs (a purple triangle on the x axis).
    pub confirmations: Vec<usize>,
    /// `(position, value)` of the ok samples, by position.
    pub points: Vec<(usize, f64)>,
    /// Positions where the case failed (drawn as crosses on the x axis).
    pub failed: Vec<usize>,
    pub current: Option<usize>,
    /// First run at the new level (perf-check's `change_run`).
    pub change: Option<usize>,
    /// The baseline runs' spread `(low, high)`, shaded.
    pub band: Option<(f64, f64)>,
    /// perf-check's baseline value, a dashed line.
    pub baseline: Option<f64>,
    pub tone: Option<Tone>,
}

/// A concurrency sweep: output tokens/s per GPU against tokens/s per user.
#[derive(Clone, Debug, Default)]
pub struct Pareto {
    pub title: String,
    /// A note under the title (e.g. that one GPU was assumed).
    pub note: Option<String>,
    /// `(tokens/s per user, tokens/s per GPU, concurrency label)`, per case.
    pub current: Vec<(f64, f64, String)>,
    pub baseline: Vec<(f64, f64, String)>,
    pub current_label: String,
    pub baseline_label: String,
}

fn fail<E: std::fmt::Display>(e: E) -> Failure {
    Failure::software(format!("drawing a chart: {e}"))
}

/// A short, readable number: 3 significant digits, no exponent for everyday magnitudes.
pub fn fmt_num(v: f64) -> String {
    let a = v.abs();
    let s = if a == 0.0 {
        "0".to_string()
    } else if a >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 0.01 {
        format!("{v:.2}")
    } else {
        format!("{v:.2e}")
    };
    if s.contains('.') && !s.contains('e') {
        let unit = s.trim_start_matches(|c: char| c == '-' || c.is_ascii_digit() || c == '.');
        let num = &s[..s.len() - unit.len()];
        format!("{}{unit}", num.trim_end_matches('0').trim_end_matches('.'))
    } else {
        s
    }
}

/// An axis label for `v` on an axis spanning `span`: as many decimals as the tick step needs
/// (so neighbouring ticks never read the same), `k`/`M` for large round values.
pub fn fmt_tick(v: f64, span: f64) -> String {
    let step = span.abs() / 5.0;
    if step >= 1000.0 && v.abs() >= 1e5 {
        return fmt_num(v);
    }
    let decimals = if step > 0.0 { (-step.log10()).ceil().clamp(0.0, 6.0) as usize } else { 2 };
    let s = format!("{v:.decimals$}");
    if s.starts_with('-') && s[1..].bytes().all(|b| b == b'0' || b == b'.') {
        s[1..].to_string()
    } else {
        s
    }
}

/// At most `max` characters of `s`, with `…` when cut.
pub fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// `(low, high)` covering every value, padded by 8 % (or around a single value).
fn padded(values: impl Iterator<Item = f64>, from_zero: bool) -> (f64, f64) {
    let (mut lo, mut hi) =
        values.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| (l.min(v), h.max(v)));
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if from_zero {
        lo = lo.min(0.0);
    }
    let span = hi - lo;
    let pad = if span > 0.0 { span * 0.08 } else { (hi.abs() * 0.05).max(1e-9) };
    if !(from_zero && lo == 0.0) {
        lo -= pad;
    }
    hi += pad;
    (lo, hi)
}

/// Draws a trend chart; returns the SVG document.
pub fn trend_svg(t: &Trend) -> Result<String> {
    render(TREND_SIZE, |root| draw_trend(root, t))
}

/// Draws with `draw` on a `size` canvas; returns the SVG document, [`compact`]ed.
fn render(
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> DrawResult,
) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        draw(&root).map_err(fail)?;
        root.present().map_err(fail)?;
    }
    Ok(compact(&svg))
}

/// Drops what plotters writes by default and browsers assume anyway (`opacity="1"`) and
/// rounds font sizes to 0.1 px. Safe on data: plotters escapes `"` in text, so these
/// attribute patterns cannot come from a label.
pub fn compact(svg: &str) -> String {
    let svg = svg.replace(" opacity=\"1\"", "");
    let mut out = String::with_capacity(svg.len());
    let mut rest = svg.as_str();
    const KEY: &str = "font-size=\"";
    while let Some(i) = rest.find(KEY) {
        let (head, tail) = rest.split_at(i + KEY.len());
        out.push_str(head);
        let end = tail.find('"').unwrap_or(0);
        match tail[..end].parse::<f64>() {
            Ok(size) => out.push_str(&format!("{size:.1}")),
            Err(_) => out.push_str(&tail[..end]),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;

fn draw_trend(root: &DrawingArea<SVGBackend<'_>, Shift>, t: &Trend) -> DrawResult {
    root.fill(&WHITE)?;
    let n = t.runs.len().max(1);
    let extra = t.band.into_iter().flat_map(|(l, h)| [l, h]).chain(t.baseline);
    let (y0, y1) = padded(t.points.iter().map(|p| p.1).chain(extra), false);
    let (x0, x1) = (-0.5, n as f64 - 0.5);
    let mut chart = ChartBuilder::on(root)
        .caption(shorten(&t.title, 48), (FONT, 15))
        .margin(6)
        .margin_right(12)
        .x_label_area_size(18)
        .y_label_area_size(46)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    let runs = &t.runs;
    let x_label = |x: &f64| {
        let i = x.round();
        if (x - i).abs() > 1e-6 || i < 0.0 {
            return String::new();
        }
        runs.get(i as usize).map(|k| shorten(k, 11)).unwrap_or_default()
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .max_light_lines(0)
        .bold_line_style(GRID)
        .axis_style(GREY)
        .x_labels(4)
        .y_labels(5)
        .x_label_formatter(&x_label)
        .y_label_formatter(&|y| fmt_tick(*y, y1 - y0))
        .label_style((FONT, 12))
        .draw()?;
    if let Some((lo, hi)) = t.band {
        chart.draw_series(std::iter::once(Rectangle::new(
            [(x0, lo), (x1, hi)],
            GREY.mix(0.18).filled(),
        )))?;
    }
    if let Some(b) = t.baseline {
        // Solid lines: plotters' SVG backend draws each dash as its own element.
        chart.draw_series(LineSeries::new([(x0, b), (x1, b)], GREY.stroke_width(1)))?;
    }
    if let Some(c) = t.change {
        let x = c as f64 - 0.5;
        let colour = t.tone.unwrap_or(Tone::Warn).color();
        chart.draw_series(LineSeries::new([(x, y0), (x, y1)], colour.stroke_width(2)))?;
        let label = format!("▸ {}", shorten(&t.runs[c], 11));
        let at = if c * 2 > n { x - 0.02 * n as f64 } else { x + 0.02 * n as f64 };
        let pos = if c * 2 > n {
            Pos::new(HPos::Right, VPos::Top)
        } else {
            Pos::new(HPos::Left, VPos::Top)
        };
        chart.draw_series(std::iter::once(Text::new(
            label,
            (at, y1),
            (FONT, 12).into_font().color(&colour).pos(pos),
        )))?;
    }
    let line = t.points.iter().map(|&(x, v)| (x as f64, v));
    chart.draw_series(LineSeries::new(line, BLUE_.stroke_width(1)))?;
    if t.points.len() <= 40 {
        chart.draw_series(
            t.points.iter().map(|&(x, v)| Circle::new((x as f64, v), 2, BLUE_.filled())),
        )?;
    }
    // Confirmation re-runs: a purple triangle on the x axis under the run.
    let cross_y = y0 + (y1 - y0) * 0.03;
    let confirmed = t
        .confirmations
        .iter()
        .map(|&c| TriangleMarker::new((c as f64, cross_y), 6, PURPLE.filled()));
    chart.draw_series(confirmed)?;
    chart.draw_series(
        t.failed.iter().map(|&x| Cross::new((x as f64, cross_y), 3, RED_.stroke_width(2))),
    )?;
    if let Some(c) = t.current {
        if let Some(&(x, v)) = t.points.iter().find(|p| p.0 == c) {
            let colour = t.tone.unwrap_or(Tone::Neutral).color();
            chart.draw_series([
                Circle::new((x as f64, v), 5, colour.filled()),
                Circle::new((x as f64, v), 5, BLACK.stroke_width(1)),
            ])?;
        }
    }
    Ok(())
}

/// Draws a Pareto chart; returns the SVG document.
pub fn pareto_svg(p: &Pareto) -> Result<String> {
    render(PARETO_SIZE, |root| draw_pareto(root, p))
}

fn draw_pareto(root: &DrawingArea<SVGBackend<'_>, Shift>, p: &Pareto) -> DrawResult {
    root.fill(&WHITE)?;
    let all = || p.current.iter().chain(&p.baseline);
    let (x0, x1) = padded(all().map(|c| c.0), true);
    let (y0, y1) = padded(all().map(|c| c.1), true);
    let area = match &p.note {
        Some(note) => {
            let (top, rest) = root.split_vertically(16);
            top.draw(&Text::new(
                shorten(note, 90),
                (6, 2),
                (FONT, 12).into_font().color(&ORANGE_),
            ))?;
            rest
        }
        None => root.clone(),
    };
    let mut chart = ChartBuilder::on(&area)
        .caption(shorten(&p.title, 70), (FONT, 15))
        .margin(8)
        .margin_right(16)
        .x_label_area_size(34)
        .y_label_area_size(56)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    chart
        .configure_mesh()
        .max_light_lines(0)
        .bold_line_style(GRID)
        .axis_style(GREY)
        .x_labels(6)
        .y_labels(6)
        .x_desc("tokens/s per user (interactivity)")
        .y_desc("output tokens/s per GPU")
        .x_label_formatter(&|x| fmt_tick(*x, x1 - x0))
        .y_label_formatter(&|y| fmt_tick(*y, y1 - y0))
        .label_style((FONT, 12))
        .axis_desc_style((FONT, 13))
        .draw()?;
    let sorted = |pts: &[(f64, f64, String)]| {
        let mut v: Vec<(f64, f64)> = pts.iter().map(|c| (c.0, c.1)).collect();
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        v
    };
    if !p.baseline.is_empty() {
        chart
            .draw_series(LineSeries::new(sorted(&p.baseline), GREY.stroke_width(2)))?
            .label(shorten(&p.baseline_label, 40))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], GREY.stroke_width(2)));
        chart.draw_series(p.baseline.iter().map(|c| Circle::new((c.0, c.1), 3, GREY.filled())))?;
    }
    chart
        .draw_series(LineSeries::new(sorted(&p.current), BLUE_.stroke_width(2)))?
        .label(shorten(&p.current_label, 40))
        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLUE_.stroke_width(2)));
    chart.draw_series(p.current.iter().map(|c| Circle::new((c.0, c.1), 4, BLUE_.filled())))?;
    chart.draw_series(
        p.current.iter().map(|c| {
            Text::new(shorten(&c.2, 12), (c.0, c.1), (FONT, 12).into_font().color(&BLACK))
        }),
    )?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(GRID)
        .label_font((FONT, 12))
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_short() {
        let got: Vec<String> =
            [0.0, 1234.0, 204.8, 12.345, 3.2, 0.5, 0.001234, 123456.0, -12.0, 2.5e6]
                .iter()
                .map(|v| fmt_num(*v))
                .collect();
        assert_eq!(
            got,
            ["0", "1234", "205", "12.3", "3.2", "0.5", "1.23e-3", "123.5k", "-12", "2.5M"]
        );
        assert_eq!(shorten("abcdef", 3), "abc…");
        let ticks: Vec<String> = [207.0, 207.2, 207.4].iter().map(|v| fmt_tick(*v, 1.0)).collect();
        assert_eq!(ticks, ["207.0", "207.2", "207.4"]);
        assert_eq!(
            (fmt_tick(1400.0, 200.0), fmt_tick(-0.0001, 1.0), fmt_tick(2.5e6, 1e6)),
            ("1400".into(), "0.0".into(), "2.5M".into())
        );
        assert_eq!(shorten("äbc", 3), "äbc");
    }

    #[test]
    fn trend_marks_current_change_and_escapes_text() {
        let t = Trend {
            title: "mean_ttft (ms) <b>&\"".into(),
            runs: vec!["r1".into(), "r2".into(), "<script>x</script>".into()],
            points: vec![(0, 10.0), (1, 10.5), (2, 14.0)],
            failed: vec![],
            confirmations: vec![2],
            current: Some(2),
            change: Some(2),
            band: Some((9.8, 10.6)),
            baseline: Some(10.2),
            tone: Some(Tone::Bad),
        };
        let svg = trend_svg(&t).unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(!svg.contains("<script>") && !svg.contains("<b>"), "{svg}");
        assert!(svg.contains("&lt;b&gt;&amp;&quot;"), "{svg}");
        assert!(svg.contains("&lt;script"), "change label escaped: {svg}");
        assert_eq!(svg.matches("<circle").count(), 3 + 2, "3 points + current marker");
        assert!(svg.contains("#D62728") || svg.contains("#d62728"), "current marked red");
        assert_eq!(
            svg.to_ascii_uppercase().matches("<POLYGON FILL=\"#7B3FB5\"").count(),
            1,
            "{svg}"
        );
    }

    #[test]
    fn compact_keeps_text() {
        let svg = "<text font-size=\"9.67741935483871\" opacity=\"1\" fill=\"#000\">\na opacity=&quot;1&quot;\n</text><rect opacity=\"0.18\"/>";
        assert_eq!(
            compact(svg),
            "<text font-size=\"9.7\" fill=\"#000\">\na opacity=&quot;1&quot;\n</text><rect opacity=\"0.18\"/>"
        );
    }

    #[test]
    fn pareto_draws_both_sweeps() {
        let p = Pareto {
            title: "t".into(),
            note: Some("1 GPU assumed".into()),
            current: vec![(50.0, 100.0, "c1".into()), (20.0, 300.0, "c8".into())],
            baseline: vec![(55.0, 110.0, "c1".into())],
            current_label: "run r2".into(),
            baseline_label: "run r1".into(),
        };
        let svg = pareto_svg(&p).unwrap();
        assert_eq!(svg.matches("<circle").count(), 3);
        assert!(
            svg.contains("1 GPU assumed") && svg.contains("run r1") && svg.contains(">\nc8\n<"),
            "{svg}"
        );
    }
}
