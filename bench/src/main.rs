//! Benchmarks ptychat against a raw pty loop, expectrl and rexpect (and
//! portable-pty, in the spawn benchmark only), and prints one markdown report
//! with ratios measured in the same run.
//!
//! `cargo run --release --manifest-path bench/Cargo.toml -- [--quick] [--only GROUPS] [--impls NAMES] [--spawns N]`

mod async_bench;
mod emit;
mod expectrl_impl;
mod open3;
mod portable_pty_impl;
mod ptychat_impl;
mod raw;
mod report;
mod rexpect_impl;
mod scenarios;
mod session;
mod stats;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use report::{Cell, Row, Unit};
use session::{Impl, Pat, Result};

const USAGE: &str =
    "usage: ptychat-bench [--quick] [--only GROUP[,GROUP..]] [--impls NAME[,NAME..]] [--spawns N]
  --quick   fewer iterations; throughput at 1 and 10 MiB only
  --only    throughput, open3, roundtrip, spawn, idle, async (default: all)
  --impls   raw, ptychat, expectrl, rexpect, portable-pty (default: all;
            portable-pty has no expect and runs in spawn only)
  --spawns  spawns per implementation in the spawn benchmark (default: 200, quick: 50)";

const GROUPS: [&str; 6] = ["throughput", "open3", "roundtrip", "spawn", "idle", "async"];

/// Versions pinned in bench/Cargo.toml.
const VERSIONS: &str = "expectrl 0.9.0, rexpect 0.7.1, portable-pty 0.9.0";

struct Options {
    quick: bool,
    groups: Vec<&'static str>,
    impls: Vec<Impl>,
    /// Overrides the plan's spawn count.
    spawns: Option<usize>,
}

/// How much work each benchmark does.
struct Plan {
    sizes_mib: Vec<usize>,
    /// Give up on one throughput measurement after this long.
    run_timeout: Duration,
    trips: usize,
    trip_budget: Duration,
    spawns: usize,
    spawn_budget: Duration,
    idle_wait: Duration,
    quick: bool,
}

impl Plan {
    fn new(quick: bool) -> Self {
        Self {
            sizes_mib: if quick { vec![1, 10] } else { vec![1, 10, 50] },
            run_timeout: Duration::from_secs(if quick { 10 } else { 30 }),
            trips: if quick { 500 } else { 2000 },
            trip_budget: Duration::from_secs(if quick { 5 } else { 20 }),
            spawns: if quick { 50 } else { 200 },
            spawn_budget: Duration::from_secs(if quick { 5 } else { 20 }),
            idle_wait: Duration::from_secs(3),
            quick,
        }
    }

    fn throughput_reps(&self, mib: usize) -> usize {
        match (self.quick, mib >= 50) {
            (true, _) => 3,
            (false, false) => 5,
            (false, true) => 3,
        }
    }
}

fn parse_list<T>(
    value: Option<&String>,
    what: &str,
    lookup: impl Fn(&str) -> Option<T>,
) -> std::result::Result<Vec<T>, String> {
    let value = value.ok_or(format!("{what} needs a value"))?;
    value
        .split(',')
        .map(|name| lookup(name.trim()).ok_or(format!("unknown {what} value: {name}")))
        .collect()
}

fn parse_args(args: &[String]) -> std::result::Result<Options, String> {
    let mut options = Options {
        quick: false,
        groups: GROUPS.to_vec(),
        impls: Impl::ALL.to_vec(),
        spawns: None,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => options.quick = true,
            "--only" => {
                options.groups = parse_list(args.next(), "--only", |name| {
                    GROUPS.into_iter().find(|&g| g == name)
                })?;
            }
            "--impls" => options.impls = parse_list(args.next(), "--impls", Impl::from_name)?,
            "--spawns" => {
                let value = args.next().ok_or("--spawns needs a value")?;
                match value.parse() {
                    Ok(n) if n > 0 => options.spawns = Some(n),
                    _ => return Err(format!("--spawns needs a positive count, not {value}")),
                }
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument: {other}")),
        }
    }
    Ok(options)
}

/// Errors from expect libraries can quote everything they buffered.
fn short(error: &dyn std::fmt::Display) -> String {
    let text = error.to_string();
    match text.char_indices().nth(160) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

struct Bench {
    plan: Plan,
    impls: Vec<Impl>,
    rows: Vec<Row>,
    /// Label prefixes of the row series measured at each size, for the linearity tables.
    series: Vec<String>,
    notes: Vec<String>,
}

impl Bench {
    fn failed(&mut self, imp: Impl, what: &str, error: &dyn std::fmt::Display) -> Cell {
        eprintln!("  {imp}: {what}: error: {}", short(error));
        self.notes
            .push(format!("{imp}, {what}: error: {}", short(error)));
        Cell::Failed
    }

    /// The selected implementations that can send and expect.
    fn expect_impls(&self) -> Vec<Impl> {
        self.impls
            .iter()
            .copied()
            .filter(|imp| imp.has_expect())
            .collect()
    }

    /// Marks the implementations without expect n/a in the rows from `first` on.
    fn no_expect_not_applicable(&mut self, first: usize) {
        for row in &mut self.rows[first..] {
            for imp in Impl::ALL.into_iter().filter(|imp| !imp.has_expect()) {
                row.set(imp, Cell::NotApplicable);
            }
        }
    }

    fn throughput(&mut self) {
        let patterns = [
            ("exact", Pat::Exact(emit::MARKER)),
            ("regex", Pat::Regex(emit::MARKER_REGEX)),
        ];
        let timeout = self.plan.run_timeout;
        let first = self.rows.len();
        for (kind, pat) in patterns {
            self.sized_rows(
                &format!("throughput, {kind}"),
                &self.expect_impls(),
                |imp, mib| scenarios::throughput_run(imp, mib << 20, pat, timeout),
            );
        }
        self.no_expect_not_applicable(first);
    }

    fn open3(&mut self) {
        let impls: Vec<Impl> = self
            .impls
            .iter()
            .copied()
            .filter(|imp| open3::IMPLS.contains(imp))
            .collect();
        let timeout = self.plan.run_timeout;
        for variant in open3::Variant::ALL {
            let first = self.rows.len();
            self.sized_rows(
                &format!("{}, exact", variant.label()),
                &impls,
                |imp, mib| open3::run(imp, variant, mib << 20, timeout),
            );
            for row in &mut self.rows[first..] {
                for imp in Impl::ALL.into_iter().filter(|i| !open3::IMPLS.contains(i)) {
                    row.set(imp, Cell::NotApplicable);
                }
            }
        }
    }

    /// One row per payload size, labelled `"{series}, N MiB"`. `run(imp, mib)`
    /// measures once. An implementation is skipped at larger sizes after its
    /// first timeout or error.
    fn sized_rows(
        &mut self,
        series: &str,
        impls: &[Impl],
        run: impl Fn(Impl, usize) -> Result<Option<f64>>,
    ) {
        let mut gave_up: Vec<Impl> = Vec::new();
        for mib in self.plan.sizes_mib.clone() {
            let label = format!("{series}, {mib} MiB");
            let active: Vec<Impl> = impls
                .iter()
                .copied()
                .filter(|imp| !gave_up.contains(imp))
                .collect();
            let reps = self.plan.throughput_reps(mib);
            let mut row = Row::new(&label, Unit::Seconds, Some(mib as f64));
            for (imp, cell) in self.throughput_cells(&active, reps, &label, |imp| run(imp, mib)) {
                if matches!(cell, Cell::AtLeast(_) | Cell::Failed) {
                    gave_up.push(imp);
                }
                row.set(imp, cell);
            }
            self.rows.push(row);
        }
        for imp in gave_up {
            self.notes.push(format!(
                "{imp}, {series}: larger sizes skipped after a timeout or error."
            ));
        }
        self.series.push(series.to_string());
    }

    /// Runs the implementations in turn, repetition by repetition, so that
    /// background load affects them alike. An implementation stops repeating
    /// once it has spent the run timeout, and on its first timeout or error.
    fn throughput_cells(
        &mut self,
        active: &[Impl],
        reps: usize,
        label: &str,
        run: impl Fn(Impl) -> Result<Option<f64>>,
    ) -> Vec<(Impl, Cell)> {
        let timeout = self.plan.run_timeout;
        let mut samples: Vec<Vec<f64>> = vec![Vec::new(); active.len()];
        let mut spent = vec![Duration::ZERO; active.len()];
        let mut ended: Vec<Option<Cell>> = vec![None; active.len()];
        for _ in 0..reps {
            for (k, &imp) in active.iter().enumerate() {
                if ended[k].is_some() || (!samples[k].is_empty() && spent[k] > timeout) {
                    continue;
                }
                let start = Instant::now();
                match run(imp) {
                    Ok(Some(secs)) => samples[k].push(secs),
                    Ok(None) => {
                        eprintln!("  {imp}: {label}: timeout after {timeout:?}");
                        ended[k] = Some(Cell::AtLeast(timeout.as_secs_f64()));
                    }
                    Err(e) => ended[k] = Some(self.failed(imp, label, &e)),
                }
                spent[k] += start.elapsed();
            }
        }
        active
            .iter()
            .zip(samples)
            .zip(ended)
            .map(|((&imp, samples), ended)| {
                let cell = ended.unwrap_or_else(|| {
                    let sorted = stats::sorted(samples);
                    let median = stats::median(&sorted);
                    eprintln!(
                        "  {imp}: {label}: median {median:.4} s of {} runs",
                        sorted.len()
                    );
                    Cell::Value(median)
                });
                (imp, cell)
            })
            .collect()
    }

    fn round_trips(&mut self) {
        let mut median_row = Row::new("round trip via cat, median", Unit::Seconds, None);
        let mut p99_row = Row::new("round trip via cat, p99", Unit::Seconds, None);
        for imp in self.expect_impls() {
            match scenarios::round_trips(imp, self.plan.trips, self.plan.trip_budget) {
                Ok(samples) => {
                    if samples.len() < self.plan.trips {
                        self.notes.push(format!(
                            "{imp}: {} of {} round trips fit in the {:?} budget.",
                            samples.len(),
                            self.plan.trips,
                            self.plan.trip_budget
                        ));
                    }
                    let sorted = stats::sorted(samples);
                    let (median, p99) = (stats::median(&sorted), stats::percentile(&sorted, 99.0));
                    eprintln!(
                        "  {imp}: round trips: n={} median {median:.6} s p99 {p99:.6} s",
                        sorted.len()
                    );
                    median_row.set(imp, Cell::Value(median));
                    p99_row.set(imp, Cell::Value(p99));
                }
                Err(e) => {
                    let cell = self.failed(imp, "round trips", &e);
                    median_row.set(imp, cell.clone());
                    p99_row.set(imp, cell);
                }
            }
        }
        let first = self.rows.len();
        self.rows.push(median_row);
        self.rows.push(p99_row);
        self.no_expect_not_applicable(first);
    }

    fn spawns(&mut self) {
        let mut row = Row::new("spawn + wait `true`, median", Unit::Seconds, None);
        for imp in self.impls.clone() {
            let cell = match scenarios::spawn_waits(imp, self.plan.spawns, self.plan.spawn_budget) {
                Ok(samples) => {
                    if samples.len() < self.plan.spawns {
                        self.notes.push(format!(
                            "{imp}: {} of {} spawns fit in the {:?} budget.",
                            samples.len(),
                            self.plan.spawns,
                            self.plan.spawn_budget
                        ));
                    }
                    let median = stats::median(&stats::sorted(samples));
                    eprintln!("  {imp}: spawn + wait: median {median:.6} s");
                    Cell::Value(median)
                }
                Err(e) => self.failed(imp, "spawn + wait", &e),
            };
            row.set(imp, cell);
        }
        self.rows.push(row);
    }

    fn idle(&mut self) {
        let wait = self.plan.idle_wait;
        let label = format!("CPU during a {}s expect that times out", wait.as_secs());
        let mut row = Row::new(label, Unit::CpuSeconds, None);
        for imp in self.expect_impls() {
            let cell = match scenarios::idle_cpu(imp, wait) {
                Ok(cpu) => {
                    eprintln!("  {imp}: idle: {:.3} ms CPU", cpu * 1e3);
                    Cell::Value(cpu)
                }
                Err(e) => self.failed(imp, "idle", &e),
            };
            row.set(imp, cell);
        }
        if let Cell::Value(cpu) = row.cell(Impl::Ptychat) {
            let verdict = if *cpu < 0.005 { "met" } else { "NOT met" };
            self.notes
                .push(format!("ptychat idle CPU target (< 5 ms): {verdict}."));
        }
        let first = self.rows.len();
        self.rows.push(row);
        self.no_expect_not_applicable(first);
    }

    fn print(&self) {
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
        let nofile = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
            .map_or(0, |(soft, _)| soft);
        println!(
            "### ptychat benchmarks ({})\n",
            if self.plan.quick { "quick" } else { "full" }
        );
        println!(
            "Linux {}, {cpus} CPUs, {VERSIONS}, open-file limit {nofile}. \
             Times are medians; ratios are time ratios (below 1× means the first one is faster).\n",
            kernel.trim()
        );
        println!("{}", report::table(&self.rows));
        for series in &self.series {
            let prefix = format!("{series}, ");
            let rows: Vec<&Row> = self
                .rows
                .iter()
                .filter(|r| r.mib.is_some() && r.label.starts_with(&prefix))
                .collect();
            println!("{}", report::linearity(series, &rows));
        }
        println!("Method:");
        println!(
            "- throughput: the child (this binary, `--emit N`) turns echo off, prints READY, waits \
             for a line, then writes N bytes of 80-byte lines from memory and `{}`; timed from \
             sending that line to the match of `{}` or `{}`.",
            emit::MARKER,
            emit::MARKER,
            emit::MARKER_REGEX
        );
        println!(
            "- open3: the same child on three pipes (`--emit-pipe N`: all on stdout; \
             `--emit-stderr N`: the N bytes on stderr, then the marker on stdout), \
             expecting `{}` on stdout. ptychat: `spawn_piped(StderrMode::Separate)`, which \
             keeps the newest 16 MiB of stderr; raw: std pipes and a poll(2) loop reading \
             both, stderr discarded. expectrl, rexpect and portable-pty have no open3 mode (n/a).",
            emit::MARKER
        );
        println!(
            "- round trip: `sh -c 'stty -echo; echo READY; exec cat'`; send `ping-N\\n`, expect `ping-N\\r\\n`."
        );
        println!(
            "- spawn: spawn `true` on a new pty, wait for it, drop the session ({} per implementation). \
             portable-pty: `native_pty_system().openpty` (24×80), `CommandBuilder` with our cwd, \
             `slave.spawn_command`, drop the slave, `child.wait()`, drop the master. portable-pty has \
             no expect, so it is measured here only (n/a elsewhere).",
            self.plan.spawns
        );
        println!(
            "- CPU: user + system time of this whole process (all threads) across one expect on `sleep 30`."
        );
        if !self.notes.is_empty() {
            println!("\nNotes:");
            for note in &self.notes {
                println!("- {note}");
            }
        }
    }
}

fn run(options: &Options) -> Result<()> {
    let mut plan = Plan::new(options.quick);
    if let Some(spawns) = options.spawns {
        plan.spawns = spawns;
    }
    let mut bench = Bench {
        plan,
        impls: options.impls.clone(),
        rows: Vec::new(),
        series: Vec::new(),
        notes: Vec::new(),
    };
    for group in &options.groups {
        eprintln!("== {group}");
        match *group {
            "throughput" => bench.throughput(),
            "open3" => bench.open3(),
            "roundtrip" => bench.round_trips(),
            "spawn" => bench.spawns(),
            "idle" => bench.idle(),
            "async" => async_bench::run(options.quick)?,
            _ => unreachable!("groups are validated"),
        }
    }
    bench.print();
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(mode) = args.first().and_then(|flag| emit::Mode::from_flag(flag)) {
        let bytes = args.get(1).and_then(|n| n.parse().ok());
        let Some(bytes) = bytes else {
            eprintln!("{} needs a byte count", mode.flag());
            return ExitCode::from(2);
        };
        return match emit::run(mode, bytes) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("emit: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let options = match parse_args(&args) {
        Ok(options) => options,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("{message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
