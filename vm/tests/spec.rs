//! The WebAssembly core spec tests, run through Cairn's whole pipeline.
//!
//! `cargo test -p cairn-vm --test spec` reads every `*.wast` file of the
//! testsuite vendored in `vm/tests/testsuite` (or the directory in
//! `CAIRN_WASM_TESTSUITE`; `CAIRN_SPEC_FILTER=name` runs only the files whose
//! name contains `name`). Every module either passes all of its assertions
//! through validate → instrument → compile → execute, or is rejected at
//! validation for a named reason (a rejected feature, a static limit, a
//! non-host import, a contract rule), after which the assertions that target
//! it are counted as skipped. Anything else is a failure: the run prints every
//! count and exits non-zero if there is one. `CAIRN_SPEC_VERBOSE=1` adds a
//! line per file and the details of everything counted but not run.
//!
//! One more kind of assertion is counted rather than failed: one that does
//! not hold on an instance that a rejected module imported from (directly or
//! through the instances it imports from). In the spec that module's segments,
//! start function or exports would have changed the instance's memory, table
//! or globals, and the assertion checks that they did; with the module
//! rejected, they cannot have. Such an assertion still passes when it holds.
//!
//! The runner plays the host's part for the meter: before every invocation it
//! gives the called instance (and every registered instance it may call into)
//! the most gas the meter's counter holds and zeroes its trap flag and stack
//! height, as a fresh
//! instance per call would have them. `assert_exhaustion` must end at the
//! injected stack-height limit; a native stack overflow is a failure.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroUsize;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use cairn_gas_meter::{
    GAS_LEFT_EXPORT, STACK_HEIGHT_EXPORT, TRAP_EXPORT, TRAP_NONE, TRAP_OUT_OF_GAS,
    TRAP_STACK_OVERFLOW,
};
use cairn_vm::validate::Reason;
use cairn_vm::{PrepareError, Rejection, Vm, VmConfig};
use wasmer::sys::vm::TrapCode;
use wasmer::{
    Engine, Extern, Function, FunctionType, Global, Imports, Instance, Module, RuntimeError, Store,
    Type, Value,
};
use wasmparser::{FuncType, Payload, TypeRef, ValType};
use wast::core::{WastArgCore, WastRetCore};
use wast::lexer::Lexer;
use wast::parser::{self, ParseBuffer};
use wast::token::{Id, Span};
use wast::{QuoteWat, Wast, WastArg, WastDirective, WastExecute, WastInvoke, WastRet};

/// The host module every spec test may import from.
const SPECTEST: &str = "spectest";

/// Failures listed in full before the summary; the rest are only counted.
const MAX_LISTED_FAILURES: usize = 50;

/// Native stack of a worker thread: the wast parser and encoder recurse on
/// deeply nested test modules.
const WORKER_STACK_BYTES: usize = 64 * 1024 * 1024;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo test -- --list` and test runners that ask for ignored tests.
    if args.iter().any(|arg| arg == "--list") {
        println!("spec: test");
        return;
    }
    if args.iter().any(|arg| arg == "--ignored") {
        return;
    }

    let started = Instant::now();
    let dir = suite_dir();
    let filter = std::env::var("CAIRN_SPEC_FILTER").ok();
    let files = wast_files(&dir, filter.as_deref());

    let vm = Vm::new(VmConfig {
        // Files run in parallel; one compiler thread per module avoids
        // oversubscribing the cores.
        compile_threads: NonZeroUsize::MIN,
        ..VmConfig::default()
    })
    .expect("creating the VM");

    let workers = std::thread::available_parallelism()
        .map_or(1, NonZeroUsize::get)
        .min(files.len().max(1));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Stats>>> = Mutex::new((0..files.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            std::thread::Builder::new()
                .stack_size(WORKER_STACK_BYTES)
                .spawn_scoped(scope, || {
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(path) = files.get(index) else { break };
                        let stats = run_file_catching(&vm, path);
                        results.lock().expect("results lock")[index] = Some(stats);
                    }
                })
                .expect("spawning a worker thread");
        }
    });

    let verbose = std::env::var_os("CAIRN_SPEC_VERBOSE").is_some_and(|v| v != "0");
    let mut total = Stats::default();
    for (path, stats) in files
        .iter()
        .zip(results.into_inner().expect("results lock"))
    {
        let stats = stats.expect("every file was run");
        if verbose {
            stats.print_file_line(&file_name(path));
        }
        total.merge(stats);
    }
    let failed = total.report(&dir, filter.as_deref(), started.elapsed().as_secs_f64());
    if failed {
        std::process::exit(1);
    }
}

/// The testsuite directory; a missing one is an error, never a skip.
fn suite_dir() -> PathBuf {
    let dir = match std::env::var_os("CAIRN_WASM_TESTSUITE") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testsuite"),
    };
    if !dir.is_dir() {
        eprintln!(
            "error: the WebAssembly testsuite is not at {}.\n\
             Put the .wast files of WebAssembly/testsuite there, or point \
             CAIRN_WASM_TESTSUITE at them.",
            dir.display()
        );
        std::process::exit(2);
    }
    dir.canonicalize().unwrap_or(dir)
}

fn wast_files(dir: &Path, filter: Option<&str>) -> Vec<PathBuf> {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|error| panic!("reading {}: {error}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("reading a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "wast"))
        .filter(|path| filter.is_none_or(|filter| file_name(path).contains(filter)))
        .collect();
    files.sort();
    if files.is_empty() {
        eprintln!(
            "error: no .wast files in {}{}",
            dir.display(),
            filter.map_or(String::new(), |f| format!(
                " matching CAIRN_SPEC_FILTER={f}"
            ))
        );
        std::process::exit(2);
    }
    files
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(String::new, |name| name.to_string_lossy().into_owned())
}

/// What a run found, for one file or all of them.
#[derive(Default)]
struct Stats {
    files: usize,
    /// Modules (`module`, `module definition`, and modules run by
    /// `assert_return`) that validation accepted.
    modules_accepted: usize,
    /// Modules validation rejected, by the name of the reason.
    rejected: BTreeMap<String, usize>,
    /// Assertions (and plain `invoke`s) that held.
    passed: usize,
    /// Of `passed`: `assert_invalid`/`assert_malformed`/`assert_unlinkable`/
    /// module `assert_trap`s that held because validation rejected the
    /// module, by the name of the reason.
    passed_by_rejection: BTreeMap<String, usize>,
    /// Assertions not run because their module was rejected, by the reason
    /// it was rejected for.
    skipped: BTreeMap<String, usize>,
    /// Assertions not run because their module already failed (counted).
    not_run: usize,
    /// Assertions that did not hold on an instance a rejected module
    /// imported from, whose effects on it the spec counts on.
    tainted: usize,
    /// What `CAIRN_SPEC_VERBOSE=1` prints: one line per skipped mismatch
    /// and per module rejected for a limit or a contract rule.
    notes: Vec<String>,
    failures: Vec<Failure>,
}

struct Failure {
    file: String,
    line: usize,
    class: &'static str,
    message: String,
}

impl Stats {
    fn merge(&mut self, other: Stats) {
        self.files += other.files;
        self.modules_accepted += other.modules_accepted;
        for (reason, count) in other.rejected {
            *self.rejected.entry(reason).or_default() += count;
        }
        self.passed += other.passed;
        for (reason, count) in other.passed_by_rejection {
            *self.passed_by_rejection.entry(reason).or_default() += count;
        }
        for (reason, count) in other.skipped {
            *self.skipped.entry(reason).or_default() += count;
        }
        self.not_run += other.not_run;
        self.tainted += other.tainted;
        self.notes.extend(other.notes);
        self.failures.extend(other.failures);
    }

    /// One line about one file, and its notes.
    fn print_file_line(&self, file: &str) {
        let rejected: Vec<String> = self
            .rejected
            .iter()
            .map(|(reason, count)| format!("{count} {reason}"))
            .collect();
        println!(
            "{file}: {} accepted, {} rejected [{}], {} passed, {} skipped, {} skipped \
             (rejected module's effects), {} failed",
            self.modules_accepted,
            self.rejected.values().sum::<usize>(),
            rejected.join(", "),
            self.passed,
            self.skipped.values().sum::<usize>(),
            self.tainted,
            self.failures.len()
        );
        for note in &self.notes {
            println!("  {note}");
        }
    }

    /// Prints the failures and the summary; true if anything failed.
    fn report(&self, dir: &Path, filter: Option<&str>, seconds: f64) -> bool {
        if !self.failures.is_empty() {
            println!("\nFailures:");
            for failure in self.failures.iter().take(MAX_LISTED_FAILURES) {
                let message = one_line(&failure.message, 300);
                println!(
                    "  {}:{}: {}: {message}",
                    failure.file, failure.line, failure.class
                );
            }
            if self.failures.len() > MAX_LISTED_FAILURES {
                println!(
                    "  ... and {} more",
                    self.failures.len() - MAX_LISTED_FAILURES
                );
            }
        }

        let rejected: usize = self.rejected.values().sum();
        println!("\nWebAssembly spec tests ({})", dir.display());
        if let Some(filter) = filter {
            println!("  only files matching CAIRN_SPEC_FILTER={filter}");
        }
        println!("  {:<58} {:>7}", "files run", self.files);
        println!("  {:<58} {:>7}", "modules accepted", self.modules_accepted);
        println!("  {:<58} {:>7}", "modules rejected at validation", rejected);
        for (reason, count) in &self.rejected {
            println!("    {reason:<56} {count:>7}");
        }
        println!(
            "  {:<58} {:>7}",
            "assertions passed (incl. plain invokes)", self.passed
        );
        let by_rejection: usize = self.passed_by_rejection.values().sum();
        println!(
            "    {:<56} {:>7}",
            "of which: the module was rejected as expected", by_rejection
        );
        for (reason, count) in &self.passed_by_rejection {
            println!("      {reason:<54} {count:>7}");
        }
        println!(
            "  {:<58} {:>7}",
            "assertions skipped with their rejected module",
            self.skipped.values().sum::<usize>()
        );
        for (reason, count) in &self.skipped {
            println!("    {reason:<56} {count:>7}");
        }
        println!(
            "  {:<58} {:>7}",
            "assertions skipped: state a rejected module would change", self.tainted
        );
        if self.not_run > 0 {
            println!(
                "  {:<58} {:>7}",
                "assertions not run: their module failed", self.not_run
            );
        }
        println!("  {:<58} {:>7}", "failures", self.failures.len());
        let mut classes: BTreeMap<&str, usize> = BTreeMap::new();
        for failure in &self.failures {
            *classes.entry(failure.class).or_default() += 1;
        }
        for (class, count) in classes {
            println!("    {class:<56} {count:>7}");
        }
        println!("  {:<58} {:>7.1}", "seconds", seconds);
        !self.failures.is_empty()
    }
}

fn one_line(text: &str, max_chars: usize) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > max_chars {
        let cut: String = line.chars().take(max_chars).collect();
        format!("{cut}...")
    } else {
        line
    }
}

fn run_file_catching(vm: &Vm, path: &Path) -> Stats {
    let file = file_name(path);
    match std::panic::catch_unwind(AssertUnwindSafe(|| run_file(vm, path, &file))) {
        Ok(stats) => stats,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "a panic".to_owned());
            let mut stats = Stats {
                files: 1,
                ..Stats::default()
            };
            stats.failures.push(Failure {
                file,
                line: 0,
                class: "the runner panicked",
                message,
            });
            stats
        }
    }
}

fn run_file(vm: &Vm, path: &Path, file: &str) -> Stats {
    let mut stats = Stats {
        files: 1,
        ..Stats::default()
    };
    let mut fail = |message: String| {
        stats.failures.push(Failure {
            file: file.to_owned(),
            line: 0,
            class: "the .wast file does not parse",
            message,
        });
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) => {
            fail(format!("reading it: {error}"));
            return stats;
        }
    };
    // names.wast has export names with bidirectional-text characters.
    let mut lexer = Lexer::new(&text);
    lexer.allow_confusing_unicode(true);
    let buffer = match ParseBuffer::new_with_lexer(lexer) {
        Ok(buffer) => buffer,
        Err(mut error) => {
            error.set_text(&text);
            fail(error.to_string());
            return stats;
        }
    };
    let wast = match parser::parse::<Wast<'_>>(&buffer) {
        Ok(wast) => wast,
        Err(mut error) => {
            error.set_text(&text);
            fail(error.to_string());
            return stats;
        }
    };
    let mut runner = Runner::new(vm, file, &text, stats);
    for directive in wast.directives {
        runner.directive(directive);
    }
    runner.stats
}

/// A module instance the runner can call, with the meter's globals.
struct Inst {
    instance: Instance,
    gas: Global,
    trap: Global,
    height: Global,
    /// A rejected module imported from this instance: in the spec it would
    /// have changed this instance's memory, table or globals (segments,
    /// start function, calls), so its later state may differ from what the
    /// spec expects.
    tainted: Cell<bool>,
    /// Registered instances this one imports from.
    imports_from: Vec<Rc<Inst>>,
}

impl Inst {
    fn tainted(&self) -> bool {
        self.tainted.get() || self.imports_from.iter().any(|inst| inst.tainted())
    }
}

/// What a module name (or the current module) stands for.
#[derive(Clone)]
enum Target {
    Live(Rc<Inst>),
    /// Rejected at validation, under this reason.
    Rejected(String),
    /// Failed (already counted as a failure).
    Broken,
}

/// What a module definition stands for.
#[derive(Clone)]
enum Def {
    Compiled(Module),
    Rejected(String),
    Broken,
}

/// How a call that did not return ended.
struct Trapped {
    code: Option<TrapCode>,
    /// The meter's trap flag (of whichever instance set one).
    meter: i32,
    message: String,
}

impl std::fmt::Display for Trapped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.meter {
            TRAP_NONE => {}
            TRAP_OUT_OF_GAS => f.write_str("the meter ran out of gas; ")?,
            TRAP_STACK_OVERFLOW => f.write_str("the injected stack-height limit tripped; ")?,
            other => write!(f, "the meter's trap flag is {other}; ")?,
        }
        match self.code {
            Some(code) => write!(f, "trap {code:?} ({})", self.message),
            None => write!(f, "error `{}`", self.message),
        }
    }
}

/// The result of running an `invoke`, a `get` or a module.
type Executed = Result<Vec<Value>, Trapped>;

/// An execution and whether its instance shares state with a rejected
/// module.
struct Ran {
    result: Executed,
    tainted: bool,
}

struct Runner<'a> {
    vm: &'a Vm,
    file: &'a str,
    text: &'a str,
    engine: Engine,
    store: Store,
    spectest: HashMap<&'static str, Function>,
    /// Modules and instances by their `$name`.
    named: HashMap<String, Target>,
    definitions: HashMap<String, Def>,
    last_definition: Option<Def>,
    current: Option<Target>,
    /// Instances by the name they were registered under.
    registered: HashMap<String, Target>,
    /// Function exports of registered live instances, for the import rule.
    registered_types: HashMap<String, HashMap<String, FunctionType>>,
    /// Every registered live instance: calls may reach into any of them.
    linked: Vec<Rc<Inst>>,
    /// Threads skipped with their rejected shared module (whose reason is
    /// the first `String`).
    skipped_threads: Vec<(String, String)>,
    stats: Stats,
}

impl<'a> Runner<'a> {
    fn new(vm: &'a Vm, file: &'a str, text: &'a str, stats: Stats) -> Self {
        // One engine per file: its modules link into one store, and a
        // store may only hold instances of its own engine's modules.
        let engine = vm.new_engine();
        let mut store = Store::new(engine.clone());
        let mut spectest = HashMap::new();
        spectest.insert("print", Function::new_typed(&mut store, || {}));
        spectest.insert("print_i32", Function::new_typed(&mut store, |_: i32| {}));
        spectest.insert("print_i64", Function::new_typed(&mut store, |_: i64| {}));
        Runner {
            vm,
            file,
            text,
            engine,
            store,
            spectest,
            named: HashMap::new(),
            definitions: HashMap::new(),
            last_definition: None,
            current: None,
            registered: HashMap::new(),
            registered_types: HashMap::new(),
            linked: Vec::new(),
            skipped_threads: Vec::new(),
            stats,
        }
    }

    fn line(&self, span: Span) -> usize {
        span.linecol_in(self.text).0 + 1
    }

    fn fail(&mut self, line: usize, class: &'static str, message: impl Into<String>) {
        self.stats.failures.push(Failure {
            file: self.file.to_owned(),
            line,
            class,
            message: message.into(),
        });
    }

    /// An assertion that did not hold: a failure, unless the instance shares
    /// state with a rejected module whose effects the spec counts on.
    fn mismatch(&mut self, line: usize, tainted: bool, class: &'static str, message: String) {
        if tainted {
            self.stats.tainted += 1;
            self.stats.notes.push(format!(
                "{}:{line}: skipped ({class} on an instance a rejected module imported \
                 from): {}",
                self.file,
                one_line(&message, 200)
            ));
        } else {
            self.fail(line, class, message);
        }
    }

    fn skip(&mut self, reason: &str, count: usize) {
        *self.stats.skipped.entry(reason.to_owned()).or_default() += count;
    }

    fn pass(&mut self) {
        self.stats.passed += 1;
    }

    fn pass_by_rejection(&mut self, reason: String) {
        self.stats.passed += 1;
        *self.stats.passed_by_rejection.entry(reason).or_default() += 1;
    }

    fn directive(&mut self, directive: WastDirective<'_>) {
        let line = self.line(directive.span());
        match directive {
            WastDirective::Module(mut module) => {
                let name = module.name().map(|id| id.name().to_owned());
                let target = match self.define(&mut module, line) {
                    Def::Compiled(module) => self.instantiate_expecting_success(&module, line),
                    Def::Rejected(reason) => Target::Rejected(reason),
                    Def::Broken => Target::Broken,
                };
                if let Some(name) = name {
                    self.named.insert(name, target.clone());
                }
                self.current = Some(target);
            }
            WastDirective::ModuleDefinition(mut module) => {
                let name = module.name().map(|id| id.name().to_owned());
                let def = self.define(&mut module, line);
                if let Some(name) = name {
                    self.definitions.insert(name, def.clone());
                }
                self.last_definition = Some(def);
            }
            WastDirective::ModuleInstance {
                instance, module, ..
            } => {
                let def = match module {
                    Some(id) => self.definitions.get(id.name()).cloned(),
                    None => self.last_definition.clone(),
                };
                let target = match def {
                    Some(Def::Compiled(module)) => {
                        self.instantiate_expecting_success(&module, line)
                    }
                    Some(Def::Rejected(reason)) => {
                        self.skip(&reason, 1);
                        Target::Rejected(reason)
                    }
                    Some(Def::Broken) => {
                        self.stats.not_run += 1;
                        Target::Broken
                    }
                    None => {
                        self.fail(
                            line,
                            "the runner cannot resolve a name",
                            "unknown definition",
                        );
                        Target::Broken
                    }
                };
                if let Some(id) = instance {
                    self.named.insert(id.name().to_owned(), target.clone());
                }
                self.current = Some(target);
            }
            WastDirective::Register { name, module, .. } => match self.resolve(module) {
                Some(target) => self.register(name, target),
                None => self.fail(
                    line,
                    "the runner cannot resolve a name",
                    "register: no such module",
                ),
            },
            WastDirective::Invoke(invoke) => {
                if let Some(ran) = self.invoke(invoke, line) {
                    match ran.result {
                        Ok(_) => self.pass(),
                        Err(trapped) => {
                            self.mismatch(
                                line,
                                ran.tainted,
                                "unexpected trap",
                                trapped.to_string(),
                            );
                        }
                    }
                }
            }
            WastDirective::AssertReturn { exec, results, .. } => {
                if let Some(ran) = self.execute(exec, line) {
                    self.check_return(line, ran, &results);
                }
            }
            WastDirective::AssertTrap { exec, message, .. } => match exec {
                WastExecute::Wat(mut module) => {
                    let bytes = module.encode();
                    self.assert_module_fails(line, bytes, "assert_trap on a module", true);
                }
                exec => {
                    if let Some(ran) = self.execute(exec, line) {
                        self.check_trap(line, ran, message);
                    }
                }
            },
            WastDirective::AssertExhaustion { call, message, .. } => {
                if let Some(ran) = self.invoke(call, line) {
                    self.check_exhaustion(line, ran, message);
                }
            }
            WastDirective::AssertInvalid {
                mut module,
                message,
                ..
            }
            | WastDirective::AssertMalformed {
                mut module,
                message,
                ..
            } => self.assert_rejected(line, &mut module, message),
            WastDirective::AssertInvalidCustom { .. }
            | WastDirective::AssertMalformedCustom { .. } => {
                // A custom section's content never makes a module invalid,
                // and the meter drops custom sections: whether the module
                // is accepted depends only on its other sections.
                self.pass();
            }
            WastDirective::AssertUnlinkable {
                mut module,
                message: _,
                ..
            } => {
                let bytes = module.encode();
                self.assert_module_fails(line, bytes, "assert_unlinkable", false);
            }
            WastDirective::AssertException { exec, .. }
            | WastDirective::AssertSuspension { exec, .. } => {
                self.outside_subset(exec, line);
            }
            WastDirective::Thread(thread) => {
                let shared = thread
                    .shared_module
                    .and_then(|id| self.named.get(id.name()).cloned());
                if let Some(Target::Rejected(reason)) = shared {
                    self.skip(&reason, thread.directives.len());
                    self.skipped_threads
                        .push((reason, thread.name.name().to_owned()));
                } else {
                    self.fail(
                        line,
                        "directive outside the accepted subset",
                        "a thread whose shared module was not rejected",
                    );
                }
            }
            WastDirective::Wait { thread, .. } => {
                let skipped = self
                    .skipped_threads
                    .iter()
                    .find(|(_, name)| name == thread.name())
                    .map(|(reason, _)| reason.clone());
                if let Some(reason) = skipped {
                    self.skip(&reason, 1);
                } else {
                    self.fail(
                        line,
                        "directive outside the accepted subset",
                        "wait for a thread that ran",
                    );
                }
            }
        }
    }

    /// Encodes and compiles a module that should be valid, counting it.
    fn define(&mut self, module: &mut QuoteWat<'_>, line: usize) -> Def {
        match module.encode() {
            Ok(bytes) => self.compile_counted(&bytes, line),
            Err(error) => {
                self.fail(line, "a valid module does not parse", error.to_string());
                Def::Broken
            }
        }
    }

    fn compile_counted(&mut self, bytes: &[u8], line: usize) -> Def {
        match self.compile(bytes) {
            Ok(module) => {
                self.stats.modules_accepted += 1;
                Def::Compiled(module)
            }
            Err(PrepareError::Rejected(rejection)) => {
                self.taint_exporters(bytes);
                match self.bucket(&rejection, bytes) {
                    Ok(reason) => {
                        if matches!(rejection.reason, Reason::Limit { .. } | Reason::Contract(_)) {
                            self.stats
                                .notes
                                .push(format!("{}:{line}: rejected: {rejection}", self.file));
                        }
                        *self.stats.rejected.entry(reason.clone()).or_default() += 1;
                        Def::Rejected(reason)
                    }
                    Err(class) => {
                        self.fail(line, class, rejection.to_string());
                        Def::Broken
                    }
                }
            }
            Err(PrepareError::Vm(error)) => {
                self.fail(
                    line,
                    "the node failed preparing a module",
                    error.to_string(),
                );
                Def::Broken
            }
        }
    }

    /// Validates, meters and compiles, allowing exactly the function imports
    /// the runner can provide with their exact types.
    fn compile(&self, bytes: &[u8]) -> Result<Module, PrepareError> {
        let rule = |module: &str, name: &str, ty: &FuncType| -> Result<(), String> {
            let (params, results) = if module == SPECTEST {
                spectest_signature(name)
                    .ok_or_else(|| format!("the spectest module has no function `{name}`"))?
            } else {
                match self.registered.get(module) {
                    None => return Err(format!("no instance is registered as `{module}`")),
                    Some(Target::Rejected(reason)) => {
                        return Err(format!("`{module}` was rejected ({reason})"));
                    }
                    Some(Target::Broken) => return Err(format!("`{module}` failed")),
                    Some(Target::Live(_)) => {
                        let ty = self
                            .registered_types
                            .get(module)
                            .and_then(|exports| exports.get(name))
                            .ok_or_else(|| format!("`{module}` exports no function `{name}`"))?;
                        (ty.params(), ty.results())
                    }
                }
            };
            if same_types(ty.params(), params) && same_types(ty.results(), results) {
                Ok(())
            } else {
                Err(format!(
                    "declared as {ty}, but the export is {params:?} -> {results:?}"
                ))
            }
        };
        self.vm.compile_module(&self.engine, bytes, &rule)
    }

    /// The reason a rejected module is counted under, or the failure class
    /// if the rejection is not an acceptable outcome for a valid module.
    fn bucket(&self, rejection: &Rejection, bytes: &[u8]) -> Result<String, &'static str> {
        match &rejection.reason {
            Reason::Feature { feature, .. } => Ok(format!("feature: {feature}")),
            Reason::Limit { limit, .. } => Ok(format!("limit: {limit}")),
            Reason::Contract(_) => Ok("contract rule".to_owned()),
            Reason::Import { module, name, .. } => match import_kind(bytes, module, name) {
                Some("function") => match self.registered.get(module.as_str()) {
                    Some(Target::Rejected(_)) => Ok("import: from a rejected module".to_owned()),
                    Some(Target::Broken) => Err("import from a module that failed"),
                    _ => Err("a function import the runner cannot provide"),
                },
                Some(kind) => Ok(format!("import: a {kind}")),
                None => Err("an import rejection the runner cannot place"),
            },
            Reason::Invalid(_) => Err("a valid module rejected as invalid"),
            _ => Err("a rejection reason the runner does not know"),
        }
    }

    /// Marks the registered instances a rejected module imports from.
    fn taint_exporters(&self, wasm: &[u8]) {
        for namespace in import_namespaces(wasm) {
            if let Some(Target::Live(inst)) = self.registered.get(&namespace) {
                inst.tainted.set(true);
            }
        }
    }

    fn instantiate_expecting_success(&mut self, module: &Module, line: usize) -> Target {
        match self.instantiate(module) {
            Ok(inst) => Target::Live(inst),
            Err(error) => {
                self.fail(line, "an accepted module failed to instantiate", error);
                Target::Broken
            }
        }
    }

    fn instantiate(&mut self, module: &Module) -> Result<Rc<Inst>, String> {
        let mut imports = Imports::new();
        let mut imports_from: Vec<Rc<Inst>> = Vec::new();
        for import in module.imports() {
            let (namespace, name) = (import.module(), import.name());
            let item: Extern = if namespace == SPECTEST {
                self.spectest
                    .get(name)
                    .ok_or_else(|| format!("spectest has no `{name}`"))?
                    .clone()
                    .into()
            } else {
                match self.registered.get(namespace) {
                    Some(Target::Live(inst)) => {
                        if !imports_from.iter().any(|other| Rc::ptr_eq(other, inst)) {
                            imports_from.push(Rc::clone(inst));
                        }
                        inst.instance
                            .exports
                            .get_extern(name)
                            .ok_or_else(|| format!("`{namespace}` exports no `{name}`"))?
                            .clone()
                    }
                    _ => return Err(format!("no live instance registered as `{namespace}`")),
                }
            };
            imports.define(namespace, name, item);
        }
        let instance = Instance::new(&mut self.store, module, &imports)
            .map_err(|error| format!("instantiating: {error}"))?;
        let global = |name: &str| {
            instance
                .exports
                .get_global(name)
                .cloned()
                .map_err(|error| format!("the metered module lacks `{name}`: {error}"))
        };
        let inst = Inst {
            gas: global(GAS_LEFT_EXPORT)?,
            trap: global(TRAP_EXPORT)?,
            height: global(STACK_HEIGHT_EXPORT)?,
            instance,
            tainted: Cell::new(false),
            imports_from,
        };
        Ok(Rc::new(inst))
    }

    fn resolve(&self, module: Option<Id<'_>>) -> Option<Target> {
        match module {
            Some(id) => self.named.get(id.name()).cloned(),
            None => self.current.clone(),
        }
    }

    fn register(&mut self, name: &str, target: Target) {
        if let Target::Live(inst) = &target {
            let mut functions = HashMap::new();
            for (export, item) in inst.instance.exports.iter() {
                if let Extern::Function(function) = item {
                    functions.insert(export.clone(), function.ty(&self.store));
                }
            }
            self.registered_types.insert(name.to_owned(), functions);
            if !self.linked.iter().any(|other| Rc::ptr_eq(other, inst)) {
                self.linked.push(Rc::clone(inst));
            }
        } else {
            self.registered_types.remove(name);
        }
        self.registered.insert(name.to_owned(), target);
    }

    /// The live instance an assertion targets, or `None` after counting the
    /// assertion as skipped, not run or failed.
    fn live(&mut self, module: Option<Id<'_>>, line: usize) -> Option<Rc<Inst>> {
        match self.resolve(module) {
            Some(Target::Live(inst)) => Some(inst),
            Some(Target::Rejected(reason)) => {
                self.skip(&reason, 1);
                None
            }
            Some(Target::Broken) => {
                self.stats.not_run += 1;
                None
            }
            None => {
                self.fail(
                    line,
                    "the runner cannot resolve a name",
                    "no module to run against",
                );
                None
            }
        }
    }

    /// Runs an `invoke`; `None` if it did not run (already counted).
    fn invoke(&mut self, invoke: WastInvoke<'_>, line: usize) -> Option<Ran> {
        let inst = self.live(invoke.module, line)?;
        let mut args = Vec::with_capacity(invoke.args.len());
        for arg in &invoke.args {
            match arg {
                WastArg::Core(WastArgCore::I32(value)) => args.push(Value::I32(*value)),
                WastArg::Core(WastArgCore::I64(value)) => args.push(Value::I64(*value)),
                other => {
                    self.fail(
                        line,
                        "an argument outside the accepted subset",
                        format!("{other:?}"),
                    );
                    return None;
                }
            }
        }
        let Ok(function) = inst.instance.exports.get_function(invoke.name).cloned() else {
            self.fail(
                line,
                "the runner cannot resolve a name",
                format!("no exported function `{}`", invoke.name),
            );
            return None;
        };
        if let Err(error) = self.refill(&inst) {
            self.fail(line, "the meter's globals cannot be set", error);
            return None;
        }
        let result = match function.call(&mut self.store, &args) {
            Ok(values) => Ok(values.into_vec()),
            Err(error) => Err(self.trapped(&inst, error)),
        };
        Some(Ran {
            result,
            tainted: inst.tainted(),
        })
    }

    /// Runs what an assertion executes; `None` if it did not run.
    fn execute(&mut self, exec: WastExecute<'_>, line: usize) -> Option<Ran> {
        match exec {
            WastExecute::Invoke(invoke) => self.invoke(invoke, line),
            WastExecute::Get { module, global, .. } => {
                let inst = self.live(module, line)?;
                match inst.instance.exports.get_global(global) {
                    Ok(global) => Some(Ran {
                        result: Ok(vec![global.get(&mut self.store)]),
                        tainted: inst.tainted(),
                    }),
                    Err(error) => {
                        self.fail(line, "the runner cannot resolve a name", error.to_string());
                        None
                    }
                }
            }
            WastExecute::Wat(mut module) => {
                let bytes = match module.encode() {
                    Ok(bytes) => bytes,
                    Err(error) => {
                        self.fail(line, "a valid module does not parse", error.to_string());
                        return None;
                    }
                };
                match self.compile_counted(&bytes, line) {
                    Def::Compiled(module) => {
                        let result = match self.instantiate(&module) {
                            Ok(_) => Ok(Vec::new()),
                            Err(error) => Err(Trapped {
                                code: None,
                                meter: TRAP_NONE,
                                message: error,
                            }),
                        };
                        Some(Ran {
                            result,
                            tainted: false,
                        })
                    }
                    Def::Rejected(reason) => {
                        self.skip(&reason, 1);
                        None
                    }
                    Def::Broken => None,
                }
            }
        }
    }

    /// Gives the instance (and every instance it may call) the gas and
    /// meter state of a fresh call.
    fn refill(&mut self, inst: &Rc<Inst>) -> Result<(), String> {
        let linked = self.linked.clone();
        for inst in std::iter::once(inst).chain(linked.iter()) {
            inst.gas
                .set(&mut self.store, Value::I64(i64::MAX))
                .and_then(|()| inst.trap.set(&mut self.store, Value::I32(TRAP_NONE)))
                .and_then(|()| inst.height.set(&mut self.store, Value::I32(0)))
                .map_err(|error| error.message())?;
        }
        Ok(())
    }

    fn trapped(&mut self, inst: &Rc<Inst>, error: RuntimeError) -> Trapped {
        let linked = self.linked.clone();
        let mut meter = TRAP_NONE;
        for inst in std::iter::once(inst).chain(linked.iter()) {
            if let Value::I32(flag) = inst.trap.get(&mut self.store)
                && flag != TRAP_NONE
            {
                meter = flag;
                break;
            }
        }
        let message = error.message();
        Trapped {
            code: error.to_trap(),
            meter,
            message,
        }
    }

    fn check_return(&mut self, line: usize, ran: Ran, expected: &[WastRet<'_>]) {
        let values = match ran.result {
            Ok(values) => values,
            Err(trapped) => {
                self.mismatch(line, ran.tainted, "unexpected trap", trapped.to_string());
                return;
            }
        };
        let matches = values.len() == expected.len()
            && values
                .iter()
                .zip(expected)
                .all(|(value, expected)| match expected {
                    WastRet::Core(expected) => value_matches(value, expected),
                    _ => false,
                });
        if matches {
            self.pass();
        } else {
            self.mismatch(
                line,
                ran.tainted,
                "wrong result",
                format!("got {values:?}, expected {expected:?}"),
            );
        }
    }

    fn check_trap(&mut self, line: usize, ran: Ran, message: &str) {
        let trapped = match ran.result {
            Ok(values) => {
                self.mismatch(
                    line,
                    ran.tainted,
                    "no trap where one was expected",
                    format!("expected `{message}`, got {values:?}"),
                );
                return;
            }
            Err(trapped) => trapped,
        };
        let Some(expected) = expected_trap(message) else {
            self.fail(
                line,
                "a trap message the runner cannot map",
                format!("`{message}`; got {trapped}"),
            );
            return;
        };
        if trapped.meter == TRAP_NONE && trapped.code == Some(expected) {
            self.pass();
        } else {
            self.mismatch(
                line,
                ran.tainted,
                "wrong trap",
                format!("expected `{message}` ({expected:?}), got {trapped}"),
            );
        }
    }

    fn check_exhaustion(&mut self, line: usize, ran: Ran, message: &str) {
        match ran.result {
            Ok(values) => self.fail(
                line,
                "no trap where one was expected",
                format!("expected `{message}`, got {values:?}"),
            ),
            Err(trapped) if trapped.meter == TRAP_STACK_OVERFLOW => self.pass(),
            Err(trapped) if trapped.code == Some(TrapCode::StackOverflow) => self.fail(
                line,
                "native stack overflow before the injected limit",
                trapped.to_string(),
            ),
            Err(trapped) => self.fail(
                line,
                "exhaustion not caught by the injected stack limit",
                trapped.to_string(),
            ),
        }
    }

    /// `assert_invalid` and `assert_malformed`: any rejection passes.
    fn assert_rejected(&mut self, line: usize, module: &mut QuoteWat<'_>, message: &str) {
        let bytes = match module.encode() {
            Ok(bytes) => bytes,
            Err(_) => {
                self.pass_by_rejection("text or binary does not parse".to_owned());
                return;
            }
        };
        match self.compile(&bytes) {
            Err(PrepareError::Rejected(rejection)) => {
                let reason = match self.bucket(&rejection, &bytes) {
                    Ok(reason) => reason,
                    Err(_) => rejection_kind(&rejection),
                };
                self.pass_by_rejection(reason);
            }
            Err(PrepareError::Vm(error)) => self.fail(
                line,
                "the node failed preparing a module",
                error.to_string(),
            ),
            Ok(_) => self.fail(
                line,
                "accepted a module the spec rejects",
                format!("expected `{message}`"),
            ),
        }
    }

    /// `assert_unlinkable` and `assert_trap` on a module: the module must be
    /// rejected or fail to instantiate. Validation refuses every import a
    /// module could fail to link, and every segment that does not fit, so a
    /// rejection stands for the failure the spec expects.
    fn assert_module_fails(
        &mut self,
        line: usize,
        bytes: Result<Vec<u8>, wast::Error>,
        what: &str,
        has_effects: bool,
    ) {
        let bytes = match bytes {
            Ok(bytes) => bytes,
            Err(error) => {
                self.fail(line, "a valid module does not parse", error.to_string());
                return;
            }
        };
        match self.compile(&bytes) {
            Err(PrepareError::Rejected(rejection)) => {
                // A module that traps while instantiating has already
                // written its segments into what it imports.
                if has_effects {
                    self.taint_exporters(&bytes);
                }
                if let Reason::Invalid(_) = rejection.reason {
                    self.fail(
                        line,
                        "a valid module rejected as invalid",
                        rejection.to_string(),
                    );
                } else {
                    let reason = match self.bucket(&rejection, &bytes) {
                        Ok(reason) => reason,
                        Err(_) => rejection_kind(&rejection),
                    };
                    self.pass_by_rejection(reason);
                }
            }
            Err(PrepareError::Vm(error)) => self.fail(
                line,
                "the node failed preparing a module",
                error.to_string(),
            ),
            Ok(module) => match self.instantiate(&module) {
                Err(_) => self.pass(),
                Ok(_) => self.fail(
                    line,
                    "an expected instantiation failure did not happen",
                    what.to_owned(),
                ),
            },
        }
    }

    /// `assert_exception` and the like: only rejected modules can have them.
    fn outside_subset(&mut self, exec: WastExecute<'_>, line: usize) {
        let module = match &exec {
            WastExecute::Invoke(invoke) => invoke.module,
            WastExecute::Get { module, .. } => *module,
            WastExecute::Wat(_) => None,
        };
        let target = match exec {
            WastExecute::Wat(_) => None,
            _ => self.resolve(module),
        };
        match target {
            Some(Target::Rejected(reason)) => self.skip(&reason, 1),
            Some(Target::Broken) => self.stats.not_run += 1,
            _ => self.fail(
                line,
                "directive outside the accepted subset",
                "an exception or suspension assertion on an accepted module",
            ),
        }
    }
}

/// The kind of a rejection, for an assertion that expected one.
fn rejection_kind(rejection: &Rejection) -> String {
    match &rejection.reason {
        Reason::Invalid(_) => "invalid".to_owned(),
        Reason::Import { .. } => "import".to_owned(),
        other => format!("{other:?}"),
    }
}

fn spectest_signature(name: &str) -> Option<(&'static [Type], &'static [Type])> {
    match name {
        "print" => Some((&[], &[])),
        "print_i32" => Some((&[Type::I32], &[])),
        "print_i64" => Some((&[Type::I64], &[])),
        _ => None,
    }
}

fn same_types(declared: &[ValType], provided: &[Type]) -> bool {
    declared.len() == provided.len()
        && declared
            .iter()
            .zip(provided)
            .all(|pair| matches!(pair, (ValType::I32, Type::I32) | (ValType::I64, Type::I64)))
}

/// The modules `wasm` imports from.
fn import_namespaces(wasm: &[u8]) -> Vec<String> {
    let mut namespaces: Vec<String> = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        let Ok(Payload::ImportSection(reader)) = payload else {
            continue;
        };
        for import in reader.into_imports().flatten() {
            if !namespaces.iter().any(|known| known == import.module) {
                namespaces.push(import.module.to_owned());
            }
        }
    }
    namespaces
}

/// The kind of the import `module.name` in `wasm`.
fn import_kind(wasm: &[u8], module: &str, name: &str) -> Option<&'static str> {
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        let Ok(Payload::ImportSection(reader)) = payload else {
            continue;
        };
        for import in reader.into_imports().flatten() {
            if import.module == module && import.name == name {
                return Some(match import.ty {
                    TypeRef::Func(_) | TypeRef::FuncExact(_) => "function",
                    TypeRef::Memory(_) => "memory",
                    TypeRef::Table(_) => "table",
                    TypeRef::Global(_) => "global",
                    TypeRef::Tag(_) => "tag",
                });
            }
        }
    }
    None
}

fn value_matches(value: &Value, expected: &WastRetCore<'_>) -> bool {
    match (value, expected) {
        (Value::I32(got), WastRetCore::I32(want)) => got == want,
        (Value::I64(got), WastRetCore::I64(want)) => got == want,
        (_, WastRetCore::Either(options)) => {
            options.iter().any(|option| value_matches(value, option))
        }
        _ => false,
    }
}

/// The engine trap a spec trap message stands for.
fn expected_trap(message: &str) -> Option<TrapCode> {
    const TRAPS: [(&str, TrapCode); 8] = [
        ("unreachable", TrapCode::UnreachableCodeReached),
        ("integer divide by zero", TrapCode::IntegerDivisionByZero),
        ("integer overflow", TrapCode::IntegerOverflow),
        (
            "out of bounds memory access",
            TrapCode::HeapAccessOutOfBounds,
        ),
        ("indirect call type mismatch", TrapCode::BadSignature),
        ("undefined element", TrapCode::TableAccessOutOfBounds),
        ("uninitialized element", TrapCode::IndirectCallToNull),
        (
            "out of bounds table access",
            TrapCode::TableAccessOutOfBounds,
        ),
    ];
    TRAPS
        .iter()
        .find(|(prefix, _)| message.starts_with(prefix))
        .map(|&(_, code)| code)
}
