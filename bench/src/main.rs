//! Benchmarks ptychat against a raw pty loop, expectrl and rexpect (and
//! portable-pty, in the spawn benchmark only), and prints one markdown report
//! with ratios measured in the same run.
//!
//! `cargo run --release --manifest-path bench/Cargo.toml -- [--quick] [--only GROUPS] [--impls NAMES] [--spawns N] [--parent-gib N] [--sessions N] [--flood-mib N] [--sizes-mib N,..] [--reps N]`

mod async_bench;
mod emit;
mod expectrl_impl;
mod many;
mod memory;
mod open3;
mod portable_pty_impl;
mod ptychat_impl;
mod raw;
mod report;
mod rexpect_impl;
mod scenarios;
mod screen;
mod session;
mod stats;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use report::{Cell, Row, Unit};
use session::{Impl, Pat, Result};

#[global_allocator]
static ALLOCATOR: memory::Counting = memory::Counting;

const USAGE: &str =
    "usage: ptychat-bench [--quick] [--only GROUP[,GROUP..]] [--impls NAME[,NAME..]] [--spawns N]
                     [--parent-gib N] [--sessions N] [--flood-mib N]
                     [--sizes-mib N[,N..]] [--reps N]
                     [--many-sessions N[,N..]] [--many-reps N] [--peers DIR] [--peers-max N]
  --quick      fewer iterations; throughput at 1 and 10 MiB only
  --only       throughput, open3, roundtrip, spawn, idle, memory, screen, many, async
               (default: all)
  --impls      raw, ptychat, expectrl, rexpect, portable-pty (default: all;
               portable-pty has no expect and runs in spawn only)
  --spawns     spawns per implementation in the spawn benchmark (default: 200, quick: 50)
  --parent-gib the spawn benchmark also spawns from this process after it has touched
               N GiB of memory (default: 4; 0 skips it)
  --sessions   idle sessions in the memory benchmark (default: 1000, quick: 200)
  --flood-mib  size of the flood in the memory benchmark (default: 1024, quick: 256)
  --sizes-mib N[,N..]  payload sizes of throughput, open3 and screen (default: 1,10,50;
               quick: 1,10)
  --reps N     runs per payload size (default: 5, 3 from 50 MiB on and when quick)
  many (--only many; also in the default run):
  --many-sessions N[,N..]  session counts (default: 10,100,1000,4000; quick: 10,100,1000)
  --many-reps N       runs per size (default: 3, 1 from 4000 sessions on and when quick)
  --peers DIR         also run DIR/peer.exp, peer.pl, peer.py (Tcl Expect, Expect.pm, pexpect)
  --peers-max N       largest session count the peers run at (default: 1000)";

const GROUPS: [&str; 9] = [
    "throughput",
    "open3",
    "roundtrip",
    "spawn",
    "idle",
    "memory",
    "screen",
    "many",
    "async",
];

/// Versions pinned in bench/Cargo.toml.
const VERSIONS: &str = "expectrl 0.9.0, rexpect 0.7.1, portable-pty 0.9.0";

struct Options {
    quick: bool,
    groups: Vec<&'static str>,
    impls: Vec<Impl>,
    /// Overrides the plan's spawn count.
    spawns: Option<usize>,
    /// Overrides the plan's payload sizes (throughput, open3, screen).
    sizes_mib: Option<Vec<usize>>,
    /// Overrides the plan's runs per payload size.
    reps: Option<usize>,
    /// Overrides the plan's idle session count.
    sessions: Option<usize>,
    /// Overrides the plan's flood size.
    flood_mib: Option<usize>,
    /// Overrides the plan's big-parent size.
    parent_gib: Option<usize>,
    /// The many-sessions benchmark's options.
    many: many::Options,
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
    /// GiB of touched memory held during the second spawn row (0: no such row).
    parent_gib: usize,
    idle_wait: Duration,
    /// Idle sessions held at once in the memory benchmark.
    sessions: usize,
    /// Size of the flood with no match.
    flood_mib: usize,
    quick: bool,
    /// Runs per payload size, when given (else by size: see `throughput_reps`).
    reps: Option<usize>,
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
            parent_gib: 4,
            idle_wait: Duration::from_secs(3),
            sessions: if quick { 200 } else { 1000 },
            flood_mib: if quick { 256 } else { 1024 },
            quick,
            reps: None,
        }
    }

    fn throughput_reps(&self, mib: usize) -> usize {
        if let Some(reps) = self.reps {
            return reps;
        }
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
        sizes_mib: None,
        reps: None,
        sessions: None,
        flood_mib: None,
        parent_gib: None,
        many: many::Options::default(),
    };
    let positive = |flag: &str, value: Option<&String>| -> std::result::Result<usize, String> {
        let value = value.ok_or(format!("{flag} needs a value"))?;
        match value.parse() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("{flag} needs a positive count, not {value}")),
        }
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
            "--spawns" => options.spawns = Some(positive(arg, args.next())?),
            "--sizes-mib" => {
                options.sizes_mib = Some(parse_list(args.next(), "--sizes-mib", |n| {
                    n.parse().ok().filter(|&n| n > 0)
                })?);
            }
            "--reps" => options.reps = Some(positive(arg, args.next())?),
            "--sessions" => options.sessions = Some(positive(arg, args.next())?),
            "--flood-mib" => options.flood_mib = Some(positive(arg, args.next())?),
            "--parent-gib" => {
                let value = args.next().ok_or("--parent-gib needs a value")?;
                match value.parse() {
                    Ok(n) => options.parent_gib = Some(n),
                    _ => return Err(format!("--parent-gib needs a count, not {value}")),
                }
            }
            "--many-sessions" | "--many-reps" | "--peers" | "--peers-max" => {
                many::parse_option(&mut options.many, arg, args.next())?;
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

/// Marks the implementations not in `impls` n/a in `row`.
fn not_applicable_outside(row: &mut Row, impls: &[Impl]) {
    for imp in Impl::ALL.into_iter().filter(|imp| !impls.contains(imp)) {
        row.set(imp, Cell::NotApplicable);
    }
}

struct Bench {
    plan: Plan,
    impls: Vec<Impl>,
    rows: Vec<Row>,
    /// Label prefixes of the row series measured at each size, for the linearity tables.
    series: Vec<String>,
    notes: Vec<String>,
    /// (implementation, small-parent median, big-parent median) from the spawn group.
    parent_ratios: Vec<(Impl, f64, f64)>,
}

/// Rounds of the spawn group when it also spawns from a big parent.
const SPAWN_ROUNDS: usize = 4;

/// Untimed spawns at the start of each phase of the spawn group.
const SPAWN_WARM_UP: usize = 20;

/// Spawn samples per implementation, or the error that stopped them.
struct Samples(Vec<(Impl, std::result::Result<Vec<f64>, String>)>);

impl Samples {
    fn new(order: &[Impl]) -> Self {
        Samples(order.iter().map(|&imp| (imp, Ok(Vec::new()))).collect())
    }
}

/// Memory this process holds and has written to, so that its page tables are as large
/// as a big program's: one byte written in every 4 KiB page.
struct Ballast {
    _memory: Vec<u8>,
}

impl Ballast {
    fn touched(bytes: usize) -> Self {
        let mut memory = vec![0u8; bytes];
        for page in memory.chunks_mut(4096) {
            let first: *mut u8 = &mut page[0];
            // SAFETY: `first` points into `page`, which is live and writable; the write is
            // volatile so the loop is not optimised away.
            unsafe { std::ptr::write_volatile(first, 1) };
        }
        Ballast {
            _memory: std::hint::black_box(memory),
        }
    }
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

    /// Full-screen output: raw against ptychat without a screen, with one, and waiting on it.
    fn screen(&mut self) {
        let impls: Vec<Impl> = [Impl::Raw, Impl::Ptychat]
            .into_iter()
            .filter(|imp| self.impls.contains(imp))
            .collect();
        let timeout = self.plan.run_timeout;
        let first = self.rows.len();
        for variant in screen::Variant::ALL {
            self.sized_rows(variant.label(), &impls, |imp, mib| {
                screen::run(imp, variant, mib << 20, timeout)
            });
        }
        for row in &mut self.rows[first..] {
            for imp in Impl::ALL.into_iter().filter(|i| !impls.contains(i)) {
                row.set(imp, Cell::NotApplicable);
            }
        }
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
        let gib = self.plan.parent_gib;
        let small_label = "spawn + wait `true`, median".to_string();
        let big_label = format!("spawn + wait `true`, {gib} GiB parent, median");
        // With a big parent: rounds of a small phase, then the same from this process
        // after it has touched `gib` GiB (fork copies the page tables of all of it, a
        // vfork-style spawn none), so that background load drifting during the run hits
        // both alike. In each phase ptychat goes first: a peer's forks from the big
        // parent leave page tables for the kernel to free after they return.
        let rounds = if gib == 0 { 1 } else { SPAWN_ROUNDS };
        let mut order = self.impls.clone();
        if let Some(at) = order.iter().position(|&imp| imp == Impl::Ptychat) {
            order[..=at].rotate_right(1);
        }
        let mut small = Samples::new(&order);
        let mut big = Samples::new(&order);
        for round in 0..rounds {
            eprintln!("  round {} of {rounds}", round + 1);
            self.spawn_phase(&order, rounds, &mut small);
            if gib > 0 {
                eprintln!("  touching {gib} GiB");
                let ballast = Ballast::touched(gib << 30);
                self.spawn_phase(&order, rounds, &mut big);
                drop(ballast);
            }
        }
        let small = self.spawn_row(small_label, small);
        if gib > 0 {
            let big = self.spawn_row(big_label, big);
            for imp in self.impls.clone() {
                if let (Cell::Value(s), Cell::Value(b)) = (small.cell(imp), big.cell(imp)) {
                    self.parent_ratios.push((imp, *s, *b));
                }
            }
            self.rows.push(small);
            self.rows.push(big);
        } else {
            self.rows.push(small);
        }
    }

    /// One phase of the spawn group: each implementation's share of the spawns.
    fn spawn_phase(&mut self, order: &[Impl], rounds: usize, samples: &mut Samples) {
        let count = self.plan.spawns.div_ceil(rounds);
        let budget = self.plan.spawn_budget / rounds as u32;
        // Untimed: the first spawns after the memory was touched or freed wait for the
        // kernel's aftermath of that (and of a peer's forks from it).
        if let Some(&first) = order.first() {
            let _ = scenarios::spawn_waits(first, SPAWN_WARM_UP, budget);
        }
        for (imp, collected) in samples.0.iter_mut() {
            if !order.contains(imp) || collected.is_err() {
                continue;
            }
            match scenarios::spawn_waits(*imp, count, budget) {
                Ok(new) => {
                    if let Ok(all) = collected {
                        all.extend(new);
                    }
                }
                Err(e) => *collected = Err(short(&e)),
            }
        }
    }

    /// The row of medians over the samples of every round.
    fn spawn_row(&mut self, label: String, samples: Samples) -> Row {
        let mut row = Row::new(label.clone(), Unit::Seconds, None);
        for (imp, collected) in samples.0 {
            let cell = match collected {
                Ok(samples) if !samples.is_empty() => {
                    if samples.len() < self.plan.spawns {
                        self.notes.push(format!(
                            "{imp}, {label}: {} of {} spawns fit in the {:?} budget.",
                            samples.len(),
                            self.plan.spawns,
                            self.plan.spawn_budget
                        ));
                    }
                    let median = stats::median(&stats::sorted(samples));
                    eprintln!("  {imp}: {label}: {median:.6} s");
                    Cell::Value(median)
                }
                Ok(_) => self.failed(imp, &label, &"no samples"),
                Err(e) => self.failed(imp, &label, &e),
            };
            row.set(imp, cell);
        }
        row
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

    /// Memory per idle session and the peak under a flood, each in a fresh process.
    fn memory(&mut self) {
        let n = self.plan.sessions;
        let mut heap_row = Row::new(
            format!("idle session after one round trip through cat, heap each ({n} sessions)"),
            Unit::Bytes,
            None,
        );
        let mut rss_row = Row::new(
            format!("idle session after one round trip through cat, RSS each ({n} sessions)"),
            Unit::Bytes,
            None,
        );
        for imp in self
            .impls
            .clone()
            .into_iter()
            .filter(|imp| memory::IMPLS.contains(imp))
        {
            match memory::idle_sessions(imp, n) {
                Ok(figures) => {
                    let (heap, rss) = (figures["heap_per_session"], figures["rss_per_session"]);
                    eprintln!("  {imp}: idle sessions: heap {heap:.0} B, RSS {rss:.0} B each");
                    heap_row.set(imp, Cell::Value(heap));
                    rss_row.set(imp, Cell::Value(rss));
                }
                Err(e) => {
                    let cell = self.failed(imp, "idle sessions", &e);
                    heap_row.set(imp, cell.clone());
                    rss_row.set(imp, cell);
                }
            }
        }
        let mib = self.plan.flood_mib;
        let mut time_row = Row::new(
            format!("flood {mib} MiB with no match, time"),
            Unit::Seconds,
            Some(mib as f64),
        );
        let mut rss_peak_row = Row::new(
            format!("flood {mib} MiB with no match, peak RSS above the start"),
            Unit::Bytes,
            None,
        );
        let mut heap_peak_row = Row::new(
            format!("flood {mib} MiB with no match, peak heap above the start"),
            Unit::Bytes,
            None,
        );
        for imp in self
            .impls
            .clone()
            .into_iter()
            .filter(|imp| memory::FLOOD_IMPLS.contains(imp))
        {
            match memory::flood(imp, mib << 20) {
                Ok(figures) => {
                    let (secs, rss, heap) = (
                        figures["secs"],
                        figures["rss_peak_extra"],
                        figures["heap_peak_extra"],
                    );
                    eprintln!(
                        "  {imp}: flood: {secs:.2} s, peak RSS +{:.1} MiB, peak heap +{:.1} MiB",
                        rss / 1048576.0,
                        heap / 1048576.0
                    );
                    time_row.set(imp, Cell::Value(secs));
                    rss_peak_row.set(imp, Cell::Value(rss));
                    heap_peak_row.set(imp, Cell::Value(heap));
                    if imp == Impl::Ptychat {
                        let max = ptychat::DEFAULT_MAX_BUFFER as f64;
                        let verdict = if rss <= 1.25 * max { "met" } else { "NOT met" };
                        self.notes.push(format!(
                            "ptychat flood peak target (extra RSS ≤ 1.25 × the 16 MiB maximum): \
                             {verdict} ({:.2}×).",
                            rss / max
                        ));
                    }
                }
                Err(e) => {
                    let cell = self.failed(imp, "flood", &e);
                    time_row.set(imp, cell.clone());
                    rss_peak_row.set(imp, cell.clone());
                    heap_peak_row.set(imp, cell);
                }
            }
        }
        if let Cell::Value(heap) = heap_row.cell(Impl::Ptychat) {
            let verdict = if *heap <= 8192.0 { "met" } else { "NOT met" };
            self.notes.push(format!(
                "ptychat idle session target (≤ 8 KB of heap each): {verdict}."
            ));
        }
        for row in [&mut heap_row, &mut rss_row] {
            not_applicable_outside(row, &memory::IMPLS);
        }
        for row in [&mut time_row, &mut rss_peak_row, &mut heap_peak_row] {
            not_applicable_outside(row, &memory::FLOOD_IMPLS);
        }
        self.rows
            .extend([heap_row, rss_row, time_row, rss_peak_row, heap_peak_row]);
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
        if !self.parent_ratios.is_empty() {
            println!(
                "{}",
                report::parent_size(self.plan.parent_gib, &self.parent_ratios)
            );
        }
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
             `--emit-stderr N`: the N bytes on stderr, then the marker on stdout; `--emit-both N`: \
             the N bytes on stdout and again on stderr, block by block, then the marker), \
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
             no expect, so it is measured here only (n/a elsewhere). The second spawn row does \
             the same after this process has touched {} GiB (a `Vec` written every 4 KiB); \
             both rows are measured in {SPAWN_ROUNDS} rounds of a small phase then a big one \
             (the memory freed after each), ptychat first in each phase, after {SPAWN_WARM_UP} \
             untimed spawns.",
            self.plan.spawns, self.plan.parent_gib
        );
        println!(
            "- full-screen output: the child (`{}` N) redraws 24x80 frames on the alternate \
             screen (a cursor move per row, eight colour runs per row) for N bytes, then draws \
             `{}` at row 12; raw looks for its bytes; ptychat with a byte pattern and no \
             screen, with the screen on (`enable_screen`) and a byte pattern, and with \
             `expect_screen(text in row 11)`. Other implementations: n/a.",
            screen::FLAG,
            emit::MARKER
        );
        println!(
            "- CPU: user + system time of this whole process (all threads) across one expect on `sleep 30`."
        );
        println!(
            "- memory, idle sessions: in a fresh process, {} sessions of `sh -c 'stty -echo; echo READY; \
             exec cat'` are spawned and held at once, each awaits READY and does one round trip; \
             heap bytes (counted by this binary's global allocator) and RSS (`VmRSS`) added, divided \
             by the count. Kernel memory (ptys) is in neither.",
            self.plan.sessions
        );
        println!(
            "- memory, flood: in a fresh process, the pty child writes {} MiB with no match; ptychat, \
             with default settings (16 MiB, DiscardOldest), expects `NEVER-APPEARS-XYZ` or EOF; raw \
             reads to EOF keeping nothing. Peaks are `VmHWM` (reset through `/proc/self/clear_refs`) \
             and the allocator's peak, minus their values when `go` is sent.",
            self.plan.flood_mib
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
    if let Some(sizes) = options.sizes_mib.clone() {
        plan.sizes_mib = sizes;
    }
    plan.reps = options.reps;
    if let Some(sessions) = options.sessions {
        plan.sessions = sessions;
    }
    if let Some(mib) = options.flood_mib {
        plan.flood_mib = mib;
    }
    if let Some(gib) = options.parent_gib {
        plan.parent_gib = gib;
    }
    let mut bench = Bench {
        plan,
        impls: options.impls.clone(),
        rows: Vec::new(),
        series: Vec::new(),
        notes: Vec::new(),
        parent_ratios: Vec::new(),
    };
    let mut many_report = None;
    for group in &options.groups {
        eprintln!("== {group}");
        match *group {
            "throughput" => bench.throughput(),
            "open3" => bench.open3(),
            "roundtrip" => bench.round_trips(),
            "spawn" => bench.spawns(),
            "idle" => bench.idle(),
            "memory" => bench.memory(),
            "screen" => bench.screen(),
            "many" => many_report = Some(many::bench(&options.many, bench.plan.quick)),
            "async" => async_bench::run(options.quick)?,
            _ => unreachable!("groups are validated"),
        }
    }
    bench.print();
    if let Some(report) = many_report {
        println!("\n{report}");
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--many-run") {
        return many::child_main(&args[1..]);
    }
    if args.first().map(String::as_str) == Some(screen::FLAG) {
        return match args.get(1).and_then(|n| n.parse().ok()).map(screen::emit) {
            Some(Ok(())) => ExitCode::SUCCESS,
            Some(Err(e)) => {
                eprintln!("emit-tui: {e}");
                ExitCode::FAILURE
            }
            None => {
                eprintln!("{} needs a byte count", screen::FLAG);
                ExitCode::from(2)
            }
        };
    }
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
    if let [flag, imp, arg] = &args[..]
        && flag.starts_with("--child-")
    {
        let Ok(arg) = arg.parse() else {
            eprintln!("{flag} needs a count");
            return ExitCode::from(2);
        };
        return match memory::child(flag, imp, arg) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{flag}: {e}");
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
