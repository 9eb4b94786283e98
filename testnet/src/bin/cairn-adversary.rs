//! `cairn-adversary`: plays the attacker against a local network of real
//! node processes that it starts itself, one attack after the other, and
//! prints what each cost consensus and an honest client
//! (`cairn_testnet::adversary`). Built only with cairn-testnet's
//! `adversary` feature: its nodes carry cairn-node's fault switches,
//! which no other binary does.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use cairn_testnet::adversary::{ATTACKS, Adversary, NODES, describe, failures};
use cairn_testnet::attack::Report;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cairn-adversary",
    version,
    about = "Attack a local Cairn network and measure what honest users and consensus go through",
    long_about = "Starts a network of four validators on loopback (its own child processes), \
deploys two contracts, then plays each named attack (all of them by default, in the order \
--list prints) for --seconds, while an honest client sends transactions through the nodes \
the attack leaves honest. After each attack the network is healed (every node running and \
caught up) before the next. Prints one table: the heights every honest node finalized \
during the attack (the least of them), the honest transactions' inclusion latency (p50, \
p99) and heights waited, their errors, and what the attack got. Exits non-zero if an \
honest node finalized nothing during an attack, an honest transaction was never included, \
or the nodes' chains differ at the end; the network's directory is then kept for its logs.",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    node: Option<NodeCommand>,
    /// Attacks to play, in this order (all of them by default).
    attacks: Vec<String>,
    /// How long each attack lasts. Any attack goes on until every honest
    /// node finalized a height under it, and one on the consensus network
    /// or a validator's clock until it has reached the nodes it aims at
    /// (at most two minutes more).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    seconds: u64,
    /// Where the network's homes and logs go: a new directory (by default a
    /// temporary one, removed after a run that holds unless --keep).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Keep the network's directory (its nodes' logs) after a run that
    /// holds.
    #[arg(long)]
    keep: bool,
    /// Lists the attacks and what each does.
    #[arg(long)]
    list: bool,
}

#[derive(Subcommand)]
enum NodeCommand {
    /// Runs one node of the network (what the adversary starts for each).
    #[command(hide = true)]
    Run {
        #[arg(long)]
        home: PathBuf,
    },
}

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    if let Some(NodeCommand::Run { home }) = &cli.node {
        cairn_node::node::run_until_signal(home)?;
        return Ok(ExitCode::SUCCESS);
    }
    if cli.list {
        for name in ATTACKS {
            println!("{name:<14} {}", describe(name).unwrap_or_default());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let names: Vec<&str> = if cli.attacks.is_empty() {
        ATTACKS.to_vec()
    } else {
        cli.attacks.iter().map(String::as_str).collect()
    };
    for name in &names {
        if describe(name).is_none() {
            bail!(
                "no attack is called {name:?}; the attacks are {} (--list says what each does)",
                ATTACKS.join(", ")
            );
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(play(&cli, &names))
}

async fn play(cli: &Cli, names: &[&str]) -> anyhow::Result<ExitCode> {
    let (dir, temporary) = match &cli.dir {
        Some(dir) => {
            if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
                bail!("{} is not empty: give a new directory", dir.display());
            }
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            (dir.clone(), None)
        }
        None => {
            let temporary = tempfile::Builder::new()
                .prefix("cairn-adversary-")
                .tempdir()?;
            (temporary.path().to_owned(), Some(temporary))
        }
    };
    // Whatever ends the run early, the logs stay for a look.
    let keep = |temporary: Option<tempfile::TempDir>| {
        if let Some(temporary) = temporary {
            let _ = temporary.keep();
        }
    };
    let outcome = tokio::select! {
        outcome = attack(cli, names, &dir) => outcome,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    match outcome {
        Ok(true) if !cli.keep => {
            drop(temporary);
            Ok(ExitCode::SUCCESS)
        }
        Ok(true) => {
            keep(temporary);
            println!("The network's directory: {}", dir.display());
            Ok(ExitCode::SUCCESS)
        }
        Ok(false) => {
            keep(temporary);
            eprintln!("The nodes' logs: {}/node*/node.log", dir.display());
            Ok(ExitCode::FAILURE)
        }
        Err(error) => {
            keep(temporary);
            eprintln!("The nodes' logs: {}/node*/node.log", dir.display());
            Err(error)
        }
    }
}

/// Plays the attacks; whether the network held through all of them.
async fn attack(cli: &Cli, names: &[&str], dir: &std::path::Path) -> anyhow::Result<bool> {
    let started = Instant::now();
    println!(
        "Starting {NODES} validators on loopback in {}, then {} attack(s) of {} s each.",
        dir.display(),
        names.len(),
        cli.seconds
    );
    let mut adversary = Adversary::start(dir, std::env::current_exe()?).await?;
    let mut reports = Vec::new();
    let mut problems = Vec::new();
    for name in names {
        println!("{name}: {}", describe(name).unwrap_or_default());
        let report = adversary.run(name, cli.seconds).await?;
        println!(
            "  {:.1} s: every honest node finalized at least {} heights; honest {}/{} included, p50 {} ms, p99 {} ms, {} errors; the attack got {:?}",
            report.elapsed.as_secs_f64(),
            report.min_finalized(),
            report.honest.included(),
            report.honest.sent,
            report
                .honest
                .latency_percentile(50)
                .map_or(0, |latency| latency.as_millis()),
            report
                .honest
                .latency_percentile(99)
                .map_or(0, |latency| latency.as_millis()),
            report.honest.errors(),
            report.outcomes.0,
        );
        problems.extend(failures(&report));
        reports.push(report);
    }
    match adversary.same_chain().await {
        Ok(height) => println!("Every node has the same {height} blocks."),
        Err(error) => problems.push(format!("the nodes' chains: {error:#}")),
    }
    println!(
        "\n{}\n{} attack(s) in {:.0} s.",
        Report::table(&reports),
        reports.len(),
        started.elapsed().as_secs_f64()
    );
    for problem in &problems {
        eprintln!("FAILED: {problem}");
    }
    Ok(problems.is_empty())
}
