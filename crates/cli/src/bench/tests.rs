//! Every scenario runs briefly against an in-process server and completes its calls without
//! failures: on SQLite and the in-process bus always, on PostgreSQL and NATS when CI provides
//! them. No figure is asserted (shared machines are noisy); only that the command works.

use super::*;

fn options(store: Store, bus: BusKind) -> Options {
    Options {
        scenario: vec!["all".into()],
        connections: 2,
        streams: 2,
        duration: Duration::from_millis(300),
        requests: None,
        tasks: 300,
        projects: 2,
        watchers: 3,
        write_rate: 50.0,
        login_streams: 1,
        store,
        bus,
        database_url: String::new(),
        nats_url: String::new(),
        target: None,
        json: false,
        quiet: true,
        check: true,
    }
}

async fn run_all(options: Options) -> Report {
    let config = Config::load(None, Vec::new()).unwrap();
    let server = world::Server::start(
        config,
        (options.store == Store::Postgres).then_some(options.database_url.as_str()),
        (options.bus == BusKind::Nats).then_some(options.nats_url.as_str()),
        options.watchers,
    )
    .await
    .unwrap();
    let url = format!("http://{}", server.address);
    let wanted = selected(&options).unwrap();
    let report = measure(&options, &wanted, &url, Some(&server)).await;
    server.stop().await.unwrap();
    report.unwrap()
}

fn check(report: &Report) {
    let names: Vec<&str> = report.scenarios.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, SCENARIOS);
    assert_eq!(report.problems(), Vec::<String>::new());
    for scenario in &report.scenarios {
        assert!(
            scenario.recorder.calls() > 0,
            "{} made no calls",
            scenario.name
        );
        for (rpc, stats) in &scenario.recorder.rpcs {
            assert!(
                stats.errors.is_empty(),
                "{} {rpc} failed: {:?}",
                scenario.name,
                stats.errors
            );
        }
    }
    let rpcs = |name: &str| -> Vec<&str> {
        report
            .scenarios
            .iter()
            .find(|scenario| scenario.name == name)
            .unwrap()
            .recorder
            .rpcs
            .keys()
            .copied()
            .collect()
    };
    assert!(rpcs("login").contains(&"Login"));
    assert!(rpcs("login").contains(&"GetTask"));
    assert!(rpcs("watch").contains(&live::WATCH_LAG));
    assert!(rpcs("events").contains(&live::EVENT_LAG));
    // The JSON report carries every scenario with its ratio to the baseline.
    let json = report.json();
    assert_eq!(json["scenarios"].as_array().unwrap().len(), SCENARIOS.len());
    assert!(json["scenarios"][1]["ratio_to_baseline"].as_f64().unwrap() > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_runs_on_sqlite_and_the_in_process_bus() {
    check(&run_all(options(Store::Sqlite, BusKind::InProcess)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_runs_on_postgres_and_nats() {
    let (Some(database_url), Some(nats_url)) = (
        mesh::testing::database_url("bench on PostgreSQL and NATS"),
        mesh::testing::nats_url("bench on PostgreSQL and NATS"),
    ) else {
        return;
    };
    let mut options = options(Store::Postgres, BusKind::Nats);
    options.database_url = database_url;
    options.nats_url = nats_url;
    check(&run_all(options).await);
}

#[test]
fn durations_and_scenarios_parse() {
    assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
    assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
    assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
    assert!(parse_duration("fast").is_err());
    let mut chosen = options(Store::Sqlite, BusKind::InProcess);
    chosen.scenario = vec!["kanban".into(), "get-task".into()];
    assert_eq!(
        selected(&chosen).unwrap(),
        ["baseline", "get-task", "kanban"]
    );
    chosen.scenario = vec!["nope".into()];
    assert!(selected(&chosen).is_err());
}

#[test]
fn failed_calls_and_empty_scenarios_are_problems() {
    let mut failing = load::Recorder::default();
    failing.record("GetTask", Ok(()), Duration::from_millis(1));
    failing.record("GetTask", Err(tonic::Code::Unavailable), Duration::ZERO);
    let report = Report {
        machine: String::new(),
        settings: BTreeMap::new(),
        idle_resident_bytes: None,
        scenarios: vec![
            ScenarioReport {
                name: "get-task".into(),
                wall: Duration::from_secs(1),
                recorder: failing,
                resident_bytes: None,
            },
            ScenarioReport {
                name: "kanban".into(),
                wall: Duration::from_secs(1),
                recorder: load::Recorder::default(),
                resident_bytes: None,
            },
        ],
    };
    assert_eq!(
        report.problems(),
        [
            "get-task GetTask: 1 x Unavailable",
            "kanban: no call succeeded"
        ]
    );
}
