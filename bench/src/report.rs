//! Results and their markdown rendering.

use std::fmt::Write as _;

use crate::session::Impl;

/// One implementation's result in one row. Values are "lower is better".
#[derive(Clone, Debug)]
pub enum Cell {
    Value(f64),
    /// Gave up: the real value is at least this.
    AtLeast(f64),
    /// Not run (not selected, or a smaller size already timed out).
    Skipped,
    /// The implementation has no way to do this.
    NotApplicable,
    Failed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Wall time in seconds.
    Seconds,
    /// CPU time in seconds, shown in ms.
    CpuSeconds,
    /// Memory, in bytes.
    Bytes,
}

pub struct Row {
    pub label: String,
    pub unit: Unit,
    /// Payload size, for rows that also show MiB/s.
    pub mib: Option<f64>,
    /// Indexed like `Impl::ALL`.
    pub cells: [Cell; Impl::ALL.len()],
}

impl Row {
    pub fn new(label: impl Into<String>, unit: Unit, mib: Option<f64>) -> Self {
        Self {
            label: label.into(),
            unit,
            mib,
            cells: std::array::from_fn(|_| Cell::Skipped),
        }
    }

    pub fn cell(&self, imp: Impl) -> &Cell {
        &self.cells[index(imp)]
    }

    pub fn set(&mut self, imp: Impl, cell: Cell) {
        self.cells[index(imp)] = cell;
    }
}

fn index(imp: Impl) -> usize {
    Impl::ALL
        .iter()
        .position(|&i| i == imp)
        .expect("known impl")
}

/// Three significant digits, plain notation.
pub fn sig3(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let digits = 2 - x.abs().log10().floor() as i32;
    format!("{:.*}", digits.max(0) as usize, x)
}

pub fn format_time(secs: f64) -> String {
    if secs < 1e-3 {
        format!("{} µs", sig3(secs * 1e6))
    } else if secs < 1.0 {
        format!("{} ms", sig3(secs * 1e3))
    } else {
        format!("{} s", sig3(secs))
    }
}

fn format_bytes(bytes: f64) -> String {
    if bytes < 1024.0 {
        format!("{} B", sig3(bytes))
    } else if bytes < 1024.0 * 1024.0 {
        format!("{} KiB", sig3(bytes / 1024.0))
    } else {
        format!("{} MiB", sig3(bytes / (1024.0 * 1024.0)))
    }
}

fn format_value(row: &Row, value: f64) -> String {
    match row.unit {
        Unit::Bytes => format_bytes(value),
        Unit::CpuSeconds => format!("{} ms", sig3(value * 1e3)),
        Unit::Seconds => match row.mib {
            Some(mib) => format!("{} ({} MiB/s)", format_time(value), sig3(mib / value)),
            None => format_time(value),
        },
    }
}

fn format_cell(row: &Row, cell: &Cell) -> String {
    match cell {
        Cell::Value(v) => format_value(row, *v),
        Cell::AtLeast(v) => format!("> {} (timeout)", format_time(*v)),
        Cell::Skipped => "—".to_string(),
        Cell::NotApplicable => "n/a".to_string(),
        Cell::Failed => "error".to_string(),
    }
}

/// `a / b` as text, with bounds when one side is only a lower bound.
fn ratio(a: &Cell, b: &Cell) -> String {
    match (a, b) {
        (Cell::Value(x), Cell::Value(y)) if *y > 0.0 => format!("{}×", sig3(x / y)),
        (Cell::Value(x), Cell::AtLeast(y)) => format!("< {}×", sig3(x / y)),
        (Cell::AtLeast(x), Cell::Value(y)) if *y > 0.0 => format!("> {}×", sig3(x / y)),
        _ => "—".to_string(),
    }
}

const RATIOS: [(Impl, Impl); 6] = [
    (Impl::Ptychat, Impl::Raw),
    (Impl::Expectrl, Impl::Raw),
    (Impl::Rexpect, Impl::Raw),
    (Impl::Ptychat, Impl::Expectrl),
    (Impl::Ptychat, Impl::Rexpect),
    (Impl::Ptychat, Impl::PortablePty),
];

/// The main table: one column per implementation, then the ratios.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from("| benchmark |");
    for imp in Impl::ALL {
        let _ = write!(out, " {imp} |");
    }
    for (a, b) in RATIOS {
        let _ = write!(out, " {a}/{b} |");
    }
    out.push_str("\n|---|");
    out.push_str(&"---:|".repeat(Impl::ALL.len() + RATIOS.len()));
    out.push('\n');
    for row in rows {
        let _ = write!(out, "| {} |", row.label);
        for imp in Impl::ALL {
            let _ = write!(out, " {} |", format_cell(row, row.cell(imp)));
        }
        for (a, b) in RATIOS {
            let _ = write!(out, " {} |", ratio(row.cell(a), row.cell(b)));
        }
        out.push('\n');
    }
    out
}

/// Time per MiB at each size, one row per implementation, to show linearity.
/// `rows` are throughput rows of one pattern, smallest size first. Implementations
/// without expect, which never have a throughput, get no row.
pub fn linearity(title: &str, rows: &[&Row]) -> String {
    let mut out = format!("| {title}: ms per MiB |");
    for row in rows {
        let _ = write!(out, " {} MiB |", sig3(row.mib.unwrap_or(0.0)));
    }
    out.push_str(" largest/smallest |\n|---|");
    out.push_str(&"---:|".repeat(rows.len() + 1));
    out.push('\n');
    for imp in Impl::ALL.into_iter().filter(|imp| imp.has_expect()) {
        let _ = write!(out, "| {imp} |");
        let per_mib: Vec<Cell> = rows
            .iter()
            .map(|row| {
                let mib = row.mib.unwrap_or(1.0);
                match row.cell(imp) {
                    Cell::Value(v) => Cell::Value(v / mib),
                    Cell::AtLeast(v) => Cell::AtLeast(v / mib),
                    other => other.clone(),
                }
            })
            .collect();
        for cell in &per_mib {
            let text = match cell {
                Cell::Value(v) => sig3(v * 1e3),
                Cell::AtLeast(v) => format!("> {}", sig3(v * 1e3)),
                Cell::Skipped => "—".to_string(),
                Cell::NotApplicable => "n/a".to_string(),
                Cell::Failed => "error".to_string(),
            };
            let _ = write!(out, " {text} |");
        }
        let spread = match (per_mib.first(), per_mib.last()) {
            (Some(first), Some(last)) if per_mib.len() > 1 => ratio(last, first),
            _ => "—".to_string(),
        };
        let _ = writeln!(out, " {spread} |");
    }
    out
}

/// Spawn + wait from a small process and from one holding `gib` GiB of touched memory:
/// one row per implementation, with the ratio.
pub fn parent_size(gib: usize, medians: &[(Impl, f64, f64)]) -> String {
    let mut out = format!(
        "| spawn + wait `true`, median | small parent | {gib} GiB parent | {gib} GiB/small |\n\
         |---|---:|---:|---:|\n"
    );
    for (imp, small, big) in medians {
        let _ = writeln!(
            out,
            "| {imp} | {} | {} | {} |",
            format_time(*small),
            format_time(*big),
            ratio(&Cell::Value(*big), &Cell::Value(*small))
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sig3_rounds_to_three_digits() {
        assert_eq!(sig3(1234.4), "1234");
        assert_eq!(sig3(12.345), "12.3");
        assert_eq!(sig3(0.012345), "0.0123");
    }

    #[test]
    fn ratio_bounds() {
        assert_eq!(ratio(&Cell::Value(2.0), &Cell::Value(1.0)), "2.00×");
        assert_eq!(ratio(&Cell::Value(1.0), &Cell::AtLeast(10.0)), "< 0.100×");
        assert_eq!(ratio(&Cell::AtLeast(10.0), &Cell::Value(1.0)), "> 10.0×");
        assert_eq!(ratio(&Cell::Skipped, &Cell::Value(1.0)), "—");
    }

    #[test]
    fn time_units() {
        assert_eq!(format_time(0.0000123), "12.3 µs");
        assert_eq!(format_time(0.0123), "12.3 ms");
        assert_eq!(format_time(12.3), "12.3 s");
        assert_eq!(format_bytes(512.0), "512 B");
        assert_eq!(format_bytes(6.5 * 1024.0), "6.50 KiB");
        assert_eq!(format_bytes(20.0 * 1024.0 * 1024.0), "20.0 MiB");
    }
}
