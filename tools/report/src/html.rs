//! The page: one self-contained HTML document from the [`Page`] view, rendered by minijinja
//! with HTML autoescaping (every value from the data is escaped; only the charts, which
//! plotters wrote and escaped itself, go in verbatim).

use crate::view::Page;
use perfline::cli::{Failure, Result};

const TEMPLATE: &str = include_str!("../templates/report.html");

/// Renders the page.
pub fn render(page: &Page) -> Result<String> {
    let mut env = minijinja::Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    env.add_template("report.html", TEMPLATE)
        .map_err(|e| Failure::software(format!("report template: {e}")))?;
    let tmpl = env
        .get_template("report.html")
        .map_err(|e| Failure::software(format!("report template: {e}")))?;
    tmpl.render(page).map_err(|e| Failure::software(format!("rendering the report: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_is_escaped_in_text_and_attributes() {
        let page = Page {
            title: "<script>alert(1)</script>".into(),
            run_key: "r\"1".into(),
            headline: "a & b".into(),
            headline_class: "good",
            info: vec![("gpu".into(), "<img src=x onerror=alert(1)>".into())],
            ..Page::default()
        };
        let html = render(&page).unwrap();
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"), "{html}");
        assert!(html.contains("r&quot;1") && html.contains("a &amp; b"), "{html}");
        assert_eq!(html.matches("<script>").count(), 1, "only the sort script");
    }
}
