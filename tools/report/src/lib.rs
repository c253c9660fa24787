//! report: history (store or metric records) and perf-check verdicts → one self-contained
//! HTML page with SVG charts. [`input`] reads files, [`store`] the store, [`model`] is the input whatever its
//! source, [`view`] decides what is shown, [`chart`] draws, [`html`] renders.

pub mod accuracy;
pub mod chart;
pub mod html;
pub mod input;
pub mod model;
pub mod store;
pub mod view;
