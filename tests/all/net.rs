//! Network threats (N01–N06, M02b): every destination outside the grant is refused before any
//! lookup or connection, names are resolved once by the host and internal answers refused, and
//! the same tools reach what the grant names. Only servers the test starts on 127.0.0.1 are ever
//! contacted; loopback is reachable only through a `[[net.private]]` entry that names the tool.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wasmgov::{Limits, LoadOptions};

use crate::caps::{
    Server, StubResolver, TcpCounter, call_json, load_unsigned, load_with, runtime_with,
};

fn net_tables(allow: &[String], cidrs: &[&str]) -> (String, String) {
    let list = |v: &[String]| {
        v.iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let manifest = format!("\n[net]\nallow = [{}]\n", list(allow));
    let mut policy = format!("[net]\nallow = [{}]\n", list(allow));
    for c in cidrs {
        policy.push_str(&format!(
            "\n[[net.private]]\ncidr = \"{c}\"\ntools = [\"*\"]\n"
        ));
    }
    (manifest, policy)
}

fn results(v: &Value) -> Vec<(String, bool, String)> {
    v["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                r["target"].as_str().unwrap_or("").to_string(),
                r["ok"].as_bool().unwrap_or(true),
                r["detail"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn http(urls: &[String]) -> Value {
    Value::Array(urls.iter().map(|u| json!({ "url": u })).collect())
}

/// A private range provisioned for one tool is not open to another tool with the same network
/// grant (another publisher's, in a real deployment), nor to an unsigned manifest.
#[tokio::test]
async fn private_range_is_open_only_to_the_tools_it_names() {
    let server = Server::start();
    let allow = [server.url()];
    let (m, _) = net_tables(&allow, &[]);
    let p = format!(
        "[net]\nallow = [\"{}\"]\n\n[[net.private]]\ncidr = \"127.0.0.1/32\"\ntools = [\"fetch-*\"]\n\n[[net.private]]\ncidr = \"10.0.0.0/8\"\ntools = [\"hostile-net\"]\n",
        server.url()
    );
    let rt = runtime_with(&p, None);
    let url = format!("{}/ok", server.url());
    let t = load_with(&rt, "fetch-url", &m, &LoadOptions::default()).expect("load");
    let out = call_json(&t, json!({ "url": url })).await;
    assert_eq!(out["status"], 200, "{out}");
    assert_eq!(server.connections(), 1);
    // hostile-net has a range of its own, but not this one.
    let t = load_with(&rt, "hostile-net", &m, &LoadOptions::default()).expect("load");
    assert_eq!(t.grant().cidrs.len(), 1);
    let out = call_json(&t, json!({ "http": http(std::slice::from_ref(&url)) })).await;
    let r = results(&out);
    assert!(!r[0].1, "{r:?}");
    assert_eq!(r[0].2, "HttpRequestDenied", "{r:?}");
    // The named tool, unsigned: no private range at all.
    let t = load_unsigned(&rt, "fetch-url", &m, &LoadOptions::default()).expect("load");
    assert!(t.grant().cidrs.is_empty());
    let out = t
        .run(
            json!({ "url": url }).to_string().as_bytes(),
            &Default::default(),
        )
        .await;
    let text = format!("{:?}", out.result);
    assert!(!text.contains("\"status\":200"), "{text}");
    assert_eq!(server.connections(), 1, "nothing else reached the server");
}

#[tokio::test]
async fn loopback_is_refused_unless_the_policy_opens_it_by_cidr() {
    let server = Server::start();
    let allow = [server.url()];
    // Without a CIDR the granted loopback URL is still refused, before connecting.
    let (m, p) = net_tables(&allow, &[]);
    let rt = runtime_with(&p, None);
    let t = load_with(&rt, "hostile-net", &m, &LoadOptions::default()).expect("load");
    let out = call_json(
        &t,
        json!({ "http": http(&[format!("{}/ok", server.url())]) }),
    )
    .await;
    let r = results(&out);
    assert!(!r[0].1, "{r:?}");
    assert_eq!(r[0].2, "HttpRequestDenied", "{r:?}");
    assert_eq!(server.connections(), 0);

    // With the CIDR the real example tool fetches it.
    let (m, p) = net_tables(&allow, &["127.0.0.1/32"]);
    let rt = runtime_with(&p, None);
    let t = load_with(&rt, "fetch-url", &m, &LoadOptions::default()).expect("load");
    let out = call_json(&t, json!({ "url": format!("{}/ok", server.url()) })).await;
    assert_eq!(out["status"], 200, "{out}");
    assert_eq!(out["text"], "hello");
    assert_eq!(server.connections(), 1);
    // M02(b): nothing of the host's (or anyone's) credentials rides along.
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].header("authorization").is_none(), "{seen:?}");
    assert!(seen[0].header("cookie").is_none(), "{seen:?}");
    assert_eq!(
        seen[0].header("host"),
        Some(format!("127.0.0.1:{}", server.port).as_str())
    );
}

#[tokio::test]
async fn unlisted_addresses_and_names_are_denied_before_any_lookup_or_connect() {
    let granted = Server::start();
    let other = Server::start();
    let tcp = TcpCounter::start();
    let stub = Arc::new(StubResolver::default().with("evil.test", &["127.0.0.1"]));
    let (m, p) = net_tables(&[granted.url()], &["127.0.0.1/32"]);
    let rt = runtime_with(&p, Some(stub.clone()));
    let t = load_with(&rt, "hostile-net", &m, &LoadOptions::default()).expect("load");
    let out = call_json(
        &t,
        json!({
            "http": http(&[
                format!("{}/x", other.url()),
                "http://203.0.113.7/".into(),
                "http://[2001:db8::1]/".into(),
                format!("http://evil.test:{}/", granted.port),
                "https://evil.test/".into(),
            ]),
            "tcp": [format!("127.0.0.1:{}", tcp.port), "203.0.113.7:80", "[2001:db8::1]:80"],
            "lookup": ["evil.test"],
        }),
    )
    .await;
    for (target, ok, detail) in results(&out) {
        assert!(!ok, "{target} was reached: {detail}");
    }
    let r = results(&out);
    assert!(r[..5].iter().all(|x| x.2 == "HttpRequestDenied"), "{r:?}");
    assert!(r[5..8].iter().all(|x| x.2 == "access-denied"), "{r:?}");
    assert_eq!(
        stub.queries(),
        Vec::<String>::new(),
        "a denied name was looked up"
    );
    assert_eq!(granted.connections() + other.connections() + tcp.count(), 0);
}

#[tokio::test]
async fn internal_literals_are_refused_in_every_spelling() {
    let server = Server::start();
    let port = server.port;
    let allow: Vec<String> = [
        format!("http://127.0.0.1:{port}"),
        format!("http://[::1]:{port}"),
        format!("http://[::ffff:127.0.0.1]:{port}"),
        "http://169.254.169.254".into(),
        "http://[fd00:ec2::254]".into(),
        "http://100.100.100.200".into(),
        "http://10.0.0.1".into(),
        "http://192.168.1.1".into(),
        "http://[64:ff9b::a9fe:a9fe]".into(),
        "http://0.0.0.0".into(),
    ]
    .into();
    let (m, p) = net_tables(&allow, &[]);
    let rt = runtime_with(&p, None);
    let t = load_with(&rt, "hostile-net", &m, &LoadOptions::default()).expect("load");
    let mut urls: Vec<String> = allow
        .iter()
        .map(|a| format!("{a}/latest/meta-data/"))
        .collect();
    urls.extend([
        format!("http://2130706433:{port}/"),
        format!("http://0x7f.1:{port}/"),
        format!("http://0177.0.0.1:{port}/"),
        format!("http://127.1:{port}/"),
        format!("http://[fe80::1%25lo]:{port}/"),
        format!("http://user@127.0.0.1:{port}/"),
    ]);
    let out = call_json(&t, json!({ "http": http(&urls) })).await;
    for (target, ok, detail) in results(&out) {
        assert!(!ok, "{target} was reached: {detail}");
        assert!(
            detail == "HttpRequestDenied" || detail.starts_with("invalid authority"),
            "{target}: {detail}"
        );
    }
    assert_eq!(server.connections(), 0);
}

#[tokio::test]
async fn names_resolving_inside_are_refused_and_each_request_resolves_once() {
    let server = Server::start();
    let port = server.port;
    let stub = Arc::new(
        StubResolver::default()
            .with("internal.test", &["127.0.0.1"])
            .with("mixed.test", &["93.184.216.34", "127.0.0.1"])
            .with("meta.test", &["::ffff:169.254.169.254"]),
    );
    let names = ["internal.test", "mixed.test", "meta.test"];
    let allow: Vec<String> = names.iter().map(|n| format!("http://{n}:{port}")).collect();
    let (m, p) = net_tables(&allow, &[]);
    let rt = runtime_with(&p, Some(stub.clone()));
    let t = load_with(&rt, "hostile-net", &m, &LoadOptions::default()).expect("load");
    let urls: Vec<String> = allow.iter().map(|a| format!("{a}/")).collect();
    let out = call_json(&t, json!({ "http": http(&urls) })).await;
    for (target, ok, detail) in results(&out) {
        assert!(!ok, "{target} was reached: {detail}");
        assert_eq!(detail, "HttpRequestDenied", "{target}");
    }
    assert_eq!(stub.queries(), names.to_vec());
    assert_eq!(server.connections(), 0);

    // DNS rebinding: the first answer is the (opened) loopback server, later answers an
    // internal address. Each request resolves exactly once and connects to what it checked.
    let stub =
        Arc::new(StubResolver::default().rebinding("rebind.test", &["127.0.0.1"], &["10.0.0.1"]));
    let allow = [format!("http://rebind.test:{port}")];
    let (m, p) = net_tables(&allow, &["127.0.0.1/32"]);
    let rt = runtime_with(&p, Some(stub.clone()));
    let t = load_with(&rt, "hostile-net", &m, &LoadOptions::default()).expect("load");
    let url = format!("http://rebind.test:{port}/ok");
    let out = call_json(&t, json!({ "http": http(&[url.clone(), url]) })).await;
    let r = results(&out);
    assert!(r[0].1 && r[0].2.starts_with("200"), "{r:?}");
    assert!(!r[1].1 && r[1].2 == "HttpRequestDenied", "{r:?}");
    assert_eq!(stub.queries(), vec!["rebind.test", "rebind.test"]);
    assert_eq!(server.connections(), 1);
    assert_eq!(
        server.seen()[0].header("host"),
        Some(format!("rebind.test:{port}").as_str())
    );
}

#[tokio::test]
async fn redirects_reach_the_tool_and_are_not_followed() {
    let server = Server::start();
    let (m, p) = net_tables(&[server.url()], &["127.0.0.1/32"]);
    let rt = runtime_with(&p, None);
    let t = load_with(&rt, "fetch-url", &m, &LoadOptions::default()).expect("load");
    let out = call_json(&t, json!({ "url": format!("{}/redirect", server.url()) })).await;
    assert_eq!(out["status"], 302, "{out}");
    assert_eq!(out["location"], "http://169.254.169.254/latest/meta-data/");
    assert_eq!(server.connections(), 1);
    assert_eq!(server.seen().len(), 1);
    assert!(server.seen()[0].line.starts_with("GET /redirect "));
    // Following it is a new request, checked again (and refused: not granted, and metadata).
    let t = load_with(&rt, "fetch-url", &m, &LoadOptions::default()).expect("load");
    let out = t
        .run(
            json!({ "url": "http://169.254.169.254/latest/meta-data/" })
                .to_string()
                .as_bytes(),
            &Default::default(),
        )
        .await;
    let e = out.result.expect_err("followed a redirect to metadata");
    assert!(e.to_string().contains("HttpRequestDenied"), "{e}");
}

#[tokio::test]
async fn ports_schemes_and_transports_outside_the_grant_are_denied() {
    let server = Server::start();
    let other_port = Server::start();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    udp.set_nonblocking(true).expect("nonblocking");
    let udp_port = udp.local_addr().expect("addr").port();
    let (m, p) = net_tables(&[server.url()], &["127.0.0.1/32"]);
    let rt = runtime_with(&p, None);
    let t = load_with(&rt, "hostile-net", &m, &LoadOptions::default()).expect("load");
    let out = call_json(
        &t,
        json!({
            "http": [
                { "url": format!("http://127.0.0.1:{}/", other_port.port) },
                { "url": format!("https://127.0.0.1:{}/", server.port) },
                { "url": format!("{}/", server.url()), "headers": [["host", "evil.test"]] },
                { "url": format!("{}/", server.url()), "headers": [["connection", "upgrade"]] },
                { "url": format!("{}/ok", server.url()) },
            ],
            "tcp": [format!("127.0.0.1:{}", server.port)],
            "udp": [format!("127.0.0.1:{udp_port}")],
            "listen": ["127.0.0.1:0", "0.0.0.0:0", "[::]:0"],
            "lookup": ["localhost"],
        }),
    )
    .await;
    let r = results(&out);
    let expect_denied = |i: usize, want: &str| {
        assert!(!r[i].1, "{} was allowed: {}", r[i].0, r[i].2);
        assert!(
            r[i].2.contains(want),
            "{}: {} (want {want})",
            r[i].0,
            r[i].2
        );
    };
    expect_denied(0, "HttpRequestDenied");
    expect_denied(1, "HttpRequestDenied");
    expect_denied(2, "Forbidden");
    expect_denied(3, "Forbidden");
    assert!(r[4].1 && r[4].2.starts_with("200"), "control failed: {r:?}");
    expect_denied(5, "access-denied");
    expect_denied(6, "access-denied");
    for i in 7..10 {
        expect_denied(i, "access-denied");
    }
    expect_denied(10, "permanent-resolver-failure");
    assert_eq!(other_port.connections(), 0);
    assert_eq!(server.connections(), 1, "only the control request");
    let mut buf = [0; 16];
    assert!(udp.recv_from(&mut buf).is_err(), "a datagram arrived");
}

#[tokio::test]
async fn raw_tcp_connects_only_to_granted_tcp_destinations() {
    let granted = TcpCounter::start();
    let other = TcpCounter::start();
    let allow = [format!("tcp://127.0.0.1:{}", granted.port)];
    let input = json!({
        "tcp": [format!("127.0.0.1:{}", granted.port), format!("127.0.0.1:{}", other.port)],
        "listen": ["0.0.0.0:0"],
    });

    let (m, p) = net_tables(&allow, &[]);
    let rt = runtime_with(&p, None);
    let t = load_with(&rt, "hostile-net", &m, &LoadOptions::default()).expect("load");
    let r = results(&call_json(&t, input.clone()).await);
    assert!(r.iter().all(|x| !x.1), "without the CIDR: {r:?}");
    assert_eq!(granted.count() + other.count(), 0);

    let (m, p) = net_tables(&allow, &["127.0.0.1/32"]);
    let rt = runtime_with(&p, None);
    let t = load_with(&rt, "hostile-net", &m, &LoadOptions::default()).expect("load");
    let r = results(&call_json(&t, input).await);
    assert!(r[0].1, "granted connect failed: {r:?}");
    assert!(!r[1].1 && r[1].2 == "access-denied", "{r:?}");
    assert!(!r[2].1 && r[2].2 == "access-denied", "{r:?}");
    // The listener thread counts asynchronously.
    let start = Instant::now();
    while granted.count() == 0 && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(granted.count(), 1);
    assert_eq!(other.count(), 0);
}

#[tokio::test]
async fn response_bodies_are_capped() {
    let server = Server::start();
    let (m, p) = net_tables(&[server.url()], &["127.0.0.1/32"]);
    let rt = runtime_with(&p, None);
    let m = format!("{m}\n[limits]\nmemory = \"32 MiB\"\n");
    let t = load_with(&rt, "hostile-net", &m, &LoadOptions::default()).expect("load");
    let out = call_json(
        &t,
        json!({ "http": http(&[format!("{}/big", server.url()), format!("{}/stream", server.url())]) }),
    )
    .await;
    let r = results(&out);
    assert!(!r[0].1 && r[0].2 == "HttpResponseBodySize", "{r:?}");
    // The streaming cap: the guest reads at most 4 KiB itself, so ask fetch-url for 4 MiB.
    let t = load_with(&rt, "fetch-url", &m, &LoadOptions::default()).expect("load");
    let out = t
        .run(
            json!({ "url": format!("{}/stream", server.url()), "max_bytes": 4_000_000 })
                .to_string()
                .as_bytes(),
            &Default::default(),
        )
        .await;
    match out.result {
        // The cap is the call's memory (32 MiB); 4 MB of an endless body fits, cut by the tool.
        Ok(b) => {
            let v: Value = serde_json::from_slice(&b).expect("json");
            assert_eq!(v["truncated"], true, "{v}");
        }
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test]
async fn a_slow_server_cannot_outlast_the_call() {
    let server = Server::start();
    let (m, p) = net_tables(&[server.url()], &["127.0.0.1/32"]);
    let rt = runtime_with(&p, None);
    let m = format!("{m}\n[limits]\ntimeout = \"1s\"\n");
    let t = load_with(&rt, "fetch-url", &m, &LoadOptions::default()).expect("load");
    let start = Instant::now();
    let out = t
        .run(
            json!({ "url": format!("{}/slow", server.url()) })
                .to_string()
                .as_bytes(),
            &Default::default(),
        )
        .await;
    assert!(out.result.is_err());
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "took {:?}",
        start.elapsed()
    );
    let _ = Limits::default();
}
