//! A bench run's results: per scenario and RPC, throughput, latency percentiles and failures,
//! the ratio of each scenario's throughput to `baseline`'s, and resident memory; printed as a
//! table or as JSON.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use super::load::Recorder;

/// One scenario's results.
#[derive(Debug)]
pub struct ScenarioReport {
    pub name: String,
    pub wall: Duration,
    pub recorder: Recorder,
    /// Resident memory of this process at the end of the scenario, in bytes.
    pub resident_bytes: Option<u64>,
}

impl ScenarioReport {
    /// Successful calls per second (all RPCs of the scenario; delivery lags excluded).
    pub fn throughput(&self) -> f64 {
        let calls: u64 = self
            .recorder
            .rpcs
            .iter()
            .filter(|(rpc, _)| !rpc.contains("lag"))
            .map(|(_, stats)| stats.latency.len())
            .sum();
        calls as f64 / self.wall.as_secs_f64().max(1e-9)
    }
}

/// The whole run.
#[derive(Debug)]
pub struct Report {
    pub machine: String,
    pub settings: BTreeMap<&'static str, String>,
    pub idle_resident_bytes: Option<u64>,
    pub scenarios: Vec<ScenarioReport>,
}

/// This process's resident set size (Linux `/proc/self/status`).
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// CPU count and model, for the record.
pub fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |count| count.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split(':').nth(1))
                .map(|model| model.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    format!("{cpus} CPUs, {model}")
}

fn millis(micros: u64) -> f64 {
    micros as f64 / 1_000.0
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or("n/a".into(), |bytes| {
        format!("{:.0} MiB", bytes as f64 / 1_048_576.0)
    })
}

impl Report {
    /// Failed calls and scenarios without a successful one, described.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for scenario in &self.scenarios {
            let succeeded: u64 = scenario
                .recorder
                .rpcs
                .values()
                .map(|s| s.latency.len())
                .sum();
            if succeeded == 0 {
                problems.push(format!("{}: no call succeeded", scenario.name));
            }
            for (rpc, stats) in &scenario.recorder.rpcs {
                for (code, count) in &stats.errors {
                    problems.push(format!("{} {rpc}: {count} x {code}", scenario.name));
                }
            }
        }
        problems
    }

    fn baseline(&self) -> Option<f64> {
        self.scenarios
            .iter()
            .find(|scenario| scenario.name == "baseline")
            .map(ScenarioReport::throughput)
    }

    pub fn print(&self) {
        println!("machine: {}", self.machine);
        let settings: Vec<String> = self
            .settings
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect();
        println!("settings: {}", settings.join(" "));
        println!(
            "resident memory, idle after seeding: {}",
            mib(self.idle_resident_bytes)
        );
        println!();
        println!(
            "{:<12} {:<34} {:>9} {:>10} {:>8} {:>8} {:>8} {:>8} {:>7}  errors",
            "scenario",
            "rpc",
            "calls",
            "calls/s",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "p999 ms",
            "vs base"
        );
        let baseline = self.baseline();
        for scenario in &self.scenarios {
            let ratio = baseline
                .filter(|_| scenario.name != "baseline")
                .map_or(String::new(), |base| {
                    format!("{:.0}%", 100.0 * scenario.throughput() / base)
                });
            for (index, (rpc, stats)) in scenario.recorder.rpcs.iter().enumerate() {
                let latency = &stats.latency;
                let rate = latency.len() as f64 / scenario.wall.as_secs_f64().max(1e-9);
                let errors: Vec<String> = stats
                    .errors
                    .iter()
                    .map(|(code, count)| format!("{code}={count}"))
                    .collect();
                println!(
                    "{:<12} {:<34} {:>9} {:>10} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>7}  {}",
                    if index == 0 {
                        scenario.name.as_str()
                    } else {
                        ""
                    },
                    rpc,
                    latency.len(),
                    if rpc.contains("lag") {
                        "-".to_string()
                    } else {
                        format!("{rate:.0}")
                    },
                    millis(latency.value_at_quantile(0.5)),
                    millis(latency.value_at_quantile(0.9)),
                    millis(latency.value_at_quantile(0.99)),
                    millis(latency.value_at_quantile(0.999)),
                    if index == 0 { ratio.as_str() } else { "" },
                    errors.join(" ")
                );
            }
            println!(
                "{:<12} {:<34} wall {:.2} s, resident memory {}",
                "",
                "",
                scenario.wall.as_secs_f64(),
                mib(scenario.resident_bytes)
            );
        }
    }

    pub fn json(&self) -> Value {
        let baseline = self.baseline();
        let scenarios: Vec<Value> = self
            .scenarios
            .iter()
            .map(|scenario| {
                let rpcs: BTreeMap<&str, Value> = scenario
                    .recorder
                    .rpcs
                    .iter()
                    .map(|(rpc, stats)| {
                        let latency = &stats.latency;
                        let quantile = |q: f64| millis(latency.value_at_quantile(q));
                        (
                            *rpc,
                            json!({
                                "calls": latency.len(),
                                "per_second": latency.len() as f64 / scenario.wall.as_secs_f64().max(1e-9),
                                "latency_ms": {
                                    "p50": quantile(0.5),
                                    "p90": quantile(0.9),
                                    "p99": quantile(0.99),
                                    "p999": quantile(0.999),
                                    "max": millis(latency.max()),
                                    "mean": latency.mean() / 1_000.0,
                                },
                                "errors": stats.errors,
                            }),
                        )
                    })
                    .collect();
                json!({
                    "name": scenario.name,
                    "wall_seconds": scenario.wall.as_secs_f64(),
                    "per_second": scenario.throughput(),
                    "ratio_to_baseline": baseline
                        .filter(|_| scenario.name != "baseline")
                        .map(|base| scenario.throughput() / base),
                    "resident_bytes": scenario.resident_bytes,
                    "rpcs": rpcs,
                })
            })
            .collect();
        json!({
            "machine": self.machine,
            "settings": self.settings,
            "idle_resident_bytes": self.idle_resident_bytes,
            "scenarios": scenarios,
        })
    }
}
