//! Every flag of the `wasmgov` command, in one place, each saying what it grants or limits.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Run untrusted agent tools as WebAssembly components: nothing is granted unless a signed
/// manifest asks for it and the operator's policy allows it.
#[derive(Debug, Parser)]
#[command(name = "wasmgov", version, about, max_term_width = 100)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a tool once in a fresh sandbox and print its result on stdout.
    Run(Box<RunArgs>),
    /// Print a tool's name, description and input/output JSON Schemas.
    Describe(DescribeArgs),
    /// Print a component's sha256, size, world, imports and exports (runs nothing).
    Inspect(InspectArgs),
    /// Write a new OpenSSH Ed25519 key pair for signing manifests.
    Keygen(KeygenArgs),
    /// Sign a manifest: writes MANIFEST.sig (SSHSIG, namespace wasmgov-manifest-v1).
    Sign(SignArgs),
    /// Check a manifest's signature, trust, expiry and (with --tool) pin; print the signer.
    Verify(VerifyArgs),
    /// Write a component's sha256 and size into a manifest's [component] table.
    Pin(PinArgs),
    /// Print the effective grant of a manifest under a policy, or why it would be refused.
    Explain(ExplainArgs),
    /// Manifest helpers.
    #[command(subcommand)]
    Manifest(ManifestCommand),
    /// Check or read an audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Serve the signed tool packages of a directory to MCP clients (stdio, or streamable HTTP
    /// with --http).
    Serve(Box<ServeArgs>),
    /// Bearer tokens for `wasmgov serve --tokens`.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Tools a detection rule quarantined: list them, or release one after review.
    #[command(subcommand)]
    Quarantine(QuarantineCommand),
    /// Assess packages before trusting them: what each could reach if hostile, what it is
    /// granted but cannot or does not use, signing and manifest hygiene, known advisories.
    /// Runs nothing.
    Assess(AssessArgs),
    /// From an audit log of a tool's calls (ideally run with --observe): the smallest manifest
    /// grant and policy additions that cover what the calls used and were refused, as a diff
    /// for a human to review. Grants nothing.
    Suggest(SuggestArgs),
}

/// `wasmgov suggest`.
#[derive(Debug, Args)]
pub struct SuggestArgs {
    /// The audit log of the observed calls.
    #[arg(long, value_name = "LOG")]
    pub audit: PathBuf,
    /// The tool's name.
    pub tool: String,
    /// The tool's current manifest: print the change as a unified diff against it (and the
    /// sequence bumped). Without it, the suggested grant is printed on its own.
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Print one JSON object (the suggested grant, the policy additions, the manifest after).
    #[arg(long)]
    pub json: bool,
}

/// Output formats of `wasmgov assess`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AssessFormat {
    /// For people.
    Text,
    /// One JSON object.
    Json,
    /// SARIF 2.1.0, for code-scanning UIs.
    Sarif,
}

/// `wasmgov assess`.
#[derive(Debug, Args)]
pub struct AssessArgs {
    /// Packages: a component (STEM.wasm, its STEM.toml and STEM.toml.sig beside it), a manifest
    /// (STEM.toml), or a directory of packages.
    #[arg(required = true, value_name = "PACKAGE")]
    pub packages: Vec<PathBuf>,
    #[command(flatten)]
    pub trust: TrustFlags,
    /// `--dir` binds as they would be given to `run` (for manifests whose [[fs]] the policy
    /// does not provision); without one such a package is assessed as refused, as `run` would.
    #[arg(long = "dir", value_name = "GUEST=HOST[:read]")]
    pub dirs: Vec<wasmgov::grant::CliBind>,
    /// An audit log of calls: also report granted capabilities the recorded calls never used.
    #[arg(long, value_name = "LOG")]
    pub audit: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = AssessFormat::Text)]
    pub format: AssessFormat,
    /// Write the report to FILE instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Exit 1 when a finding at or above this severity exists (info, low, medium, high,
    /// critical). Without it, the exit code does not depend on the findings.
    #[arg(long, value_name = "SEVERITY")]
    pub fail_on: Option<wasmgov_assess::Severity>,
}

/// `wasmgov quarantine ...`.
#[derive(Debug, Subcommand)]
pub enum QuarantineCommand {
    /// Print every quarantined tool: key, rule, since, call and the finding's message.
    List(QuarantineListArgs),
    /// Release TOOL (a tool name, or an exact key `NAME PUBLISHER`): it may be loaded and
    /// called again. Written to the audit log.
    Release(QuarantineReleaseArgs),
}

/// `wasmgov quarantine list`.
#[derive(Debug, Args)]
pub struct QuarantineListArgs {
    /// State directory. Default: $XDG_STATE_HOME/wasmgov.
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// Print JSON (one object keyed by quarantine key).
    #[arg(long)]
    pub json: bool,
}

/// `wasmgov quarantine release`.
#[derive(Debug, Args)]
pub struct QuarantineReleaseArgs {
    /// The tool name, or the exact key (`NAME PUBLISHER`, `NAME unsigned`, `component:SHA256`).
    pub tool: String,
    /// State directory. Default: $XDG_STATE_HOME/wasmgov.
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// Audit log the release is written to. Default: STATE/audit.jsonl.
    #[arg(long, value_name = "FILE")]
    pub audit: Option<PathBuf>,
}

/// `wasmgov serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Directory of tool packages: NAME.wasm + NAME.toml + NAME.toml.sig each. Only signed,
    /// verified packages are served; the directory is watched and reloaded.
    #[arg(long, value_name = "DIR")]
    pub tools: PathBuf,
    /// Learning mode for every served tool (see `wasmgov run --observe`): refusals record what
    /// they would have needed. Grants nothing.
    #[arg(long)]
    pub observe: bool,
    /// Serve streamable HTTP at ADDR (`/mcp`, `/metrics`, `/healthz`, `/readyz`), e.g. 127.0.0.1:8787
    /// (port 0 picks one). Without it: MCP over stdin/stdout.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<std::net::SocketAddr>,
    /// Hashed bearer tokens (`SUBJECT sha256:HEX` lines; `wasmgov token add`). Required to
    /// listen on a non-loopback address.
    #[arg(long, value_name = "FILE")]
    pub tokens: Option<PathBuf>,
    /// Also accept this Host header (`name:port`), e.g. the Service name behind a load balancer.
    #[arg(long = "allow-host", value_name = "HOST:PORT")]
    pub allow_host: Vec<String>,
    /// Also accept this Origin header (`scheme://host:port`).
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub allow_origin: Vec<String>,
    /// Calls that run at once.
    #[arg(long = "max-concurrent", value_name = "N", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub max_concurrent: u32,
    /// Calls that may wait for a slot; beyond them a call is answered error[busy] at once.
    #[arg(long = "max-queued", value_name = "N", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub max_queued: u32,
    /// Largest request body (HTTP) or message line (stdio), e.g. `1MiB`. Default 4 MiB.
    #[arg(long = "max-body", value_name = "SIZE")]
    pub max_body: Option<wasmgov::limits::ByteSize>,
    /// How long SIGTERM waits for calls in flight before stopping them, e.g. `30s`.
    #[arg(long = "drain-timeout", value_name = "DUR", default_value = "30s")]
    pub drain_timeout: wasmgov::limits::HumanDuration,
    /// Print what would be served and why each other package would not, then exit (0 when
    /// every package would be served, 3 otherwise).
    #[arg(long)]
    pub check: bool,
    /// Audit log. Default: STATE/audit.jsonl.
    #[arg(long, value_name = "FILE")]
    pub audit: Option<PathBuf>,
    /// Write each call's audit records to stable storage before its result is returned
    /// (an fsync per call).
    #[arg(long = "audit-fsync", value_name = "BOOL", default_value_t = true,
          action = clap::ArgAction::Set)]
    pub audit_fsync: bool,
    /// State directory (ratchet, compile cache). Default: $XDG_STATE_HOME/wasmgov.
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// Append each detection finding to FILE as an OCSF Detection Finding (class 2004) JSON
    /// line, for a SIEM. Findings always go to the audit log too.
    #[arg(long, value_name = "FILE")]
    pub findings: Option<PathBuf>,
    #[command(flatten)]
    pub trust: TrustFlags,
    /// OpenTelemetry export of calls and audit records.
    #[command(flatten)]
    pub otlp: OtlpFlags,
}

/// `wasmgov token ...`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a new bearer token for SUBJECT: append its hash to FILE (created 0600) and print
    /// the token once on stdout.
    Add(TokenAddArgs),
}

/// `wasmgov token add`.
#[derive(Debug, Args)]
pub struct TokenAddArgs {
    /// Who the token authenticates (the policy's `[[callers]] subjects`).
    pub subject: String,
    /// The token file of `wasmgov serve --tokens`.
    #[arg(long, value_name = "FILE")]
    pub tokens: PathBuf,
}

/// `wasmgov audit ...`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the log's hash chain (and, with --key, its signed checkpoints); name the first
    /// bad record. Exit 0 when it verifies, 1 when it does not.
    Verify(AuditVerifyArgs),
    /// Print the log's records as a table (or, with --json, as they are).
    Show(AuditShowArgs),
    /// Print the last records of the log and, with --follow, each record as it is appended
    /// (following rotation and truncation), with the same filters as `show`.
    Tail(AuditTailArgs),
    /// Write one self-contained HTML page about the log (a timeline of calls per tool, denials,
    /// limit hits, findings and quarantines, each linked to its records) after verifying its
    /// chain. Exit 0 when the log verifies, 1 when the page reports it damaged.
    Report(AuditReportArgs),
}

/// `wasmgov audit verify`.
#[derive(Debug, Args)]
pub struct AuditVerifyArgs {
    /// The audit log (JSON Lines).
    pub file: PathBuf,
    /// The operator's OpenSSH Ed25519 public key: every checkpoint must verify under it, and
    /// there must be at least one.
    #[arg(long, value_name = "PUB")]
    pub key: Option<PathBuf>,
    /// A head remembered from an earlier `verify` (or a checkpoint kept elsewhere), as
    /// SEQ:HASH; the log must still contain it. Catches records cut off the end.
    #[arg(long, value_name = "SEQ:HASH", value_parser = parse_head)]
    pub head: Option<(u64, String)>,
    /// Fail unless checkpoints were verified with `--key`: without a key, the chain proves only
    /// that the file is self-consistent, which anyone who can write it can arrange.
    #[arg(long)]
    pub require_key: bool,
}

fn parse_head(s: &str) -> Result<(u64, String), String> {
    let (seq, hash) = s
        .split_once(':')
        .ok_or_else(|| format!("expected SEQ:HASH, got `{s}`"))?;
    let seq = seq
        .parse()
        .map_err(|_| format!("`{seq}` is not a sequence number"))?;
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("`{hash}` is not a SHA-256 in hex"));
    }
    Ok((seq, hash.to_ascii_lowercase()))
}

/// `wasmgov audit show`.
#[derive(Debug, Args)]
pub struct AuditShowArgs {
    /// The audit log (JSON Lines).
    pub file: PathBuf,
    /// Only records of this tool (`name` or `name@version`).
    #[arg(long, value_name = "TOOL")]
    pub tool: Option<String>,
    /// Only records of this call (its id or a prefix of it).
    #[arg(long = "call", value_name = "ID")]
    pub call: Option<String>,
    /// Only host calls with this decision.
    #[arg(long, value_name = "allow|deny", value_parser = ["allow", "deny"])]
    pub decision: Option<String>,
    /// Only records of this kind (`finding`, `release`, `limit`, `host-call`, `start`, `end`,
    /// `load`, `checkpoint`).
    #[arg(long, value_name = "KIND")]
    pub kind: Option<String>,
    /// Print the matching records as JSON Lines, unchanged.
    #[arg(long)]
    pub json: bool,
}

/// `wasmgov audit tail`.
#[derive(Debug, Args)]
pub struct AuditTailArgs {
    /// The filters and the output form, as for `audit show`.
    #[command(flatten)]
    pub show: AuditShowArgs,
    /// How many of the last matching records to print first.
    #[arg(short = 'n', long = "lines", value_name = "N", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub lines: u32,
    /// Keep printing records as they are appended; a rotated or truncated log is read again
    /// from its start. Stop with Ctrl-C.
    #[arg(short = 'f', long)]
    pub follow: bool,
}

/// `wasmgov audit report`.
#[derive(Debug, Args)]
pub struct AuditReportArgs {
    /// The audit log (JSON Lines).
    pub file: PathBuf,
    /// Where to write the page (`-`: stdout). It fetches nothing: styles and charts are inline.
    #[arg(long, value_name = "OUT")]
    pub html: PathBuf,
}

/// `wasmgov manifest ...`.
#[derive(Debug, Subcommand)]
pub enum ManifestCommand {
    /// Print the JSON Schema of the manifest (for editors).
    Schema,
}

/// Where trust, policy and state come from.
#[derive(Debug, Args, Clone, Default)]
pub struct TrustFlags {
    /// allowed_signers file (OpenSSH format). Default: $XDG_CONFIG_HOME/wasmgov/allowed_signers.
    #[arg(long, value_name = "FILE")]
    pub trust: Option<PathBuf>,
    /// Revoked keys, one public key per line; revocation beats trust.
    /// Default: $XDG_CONFIG_HOME/wasmgov/revoked_keys if it exists.
    #[arg(long, value_name = "FILE")]
    pub revoked: Option<PathBuf>,
    /// Operator policy. Default: $XDG_CONFIG_HOME/wasmgov/policy.toml if it exists, else the
    /// built-in policy (default limits, no publishers, no capabilities).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
}

/// OpenTelemetry export (grants nothing to a tool; best effort).
#[derive(Debug, Args, Clone, Default)]
pub struct OtlpFlags {
    /// Send each call as an OpenTelemetry span and every audit record as a log record to this
    /// OTLP/HTTP collector: its base URL, http:// or https://, e.g. http://127.0.0.1:4318
    /// (traces go to /v1/traces, logs to /v1/logs). Best effort: the audit log stays the record
    /// of truth, and export never slows or fails a call.
    #[arg(long, value_name = "URL")]
    pub otlp: Option<String>,
    /// This replica's name in exported telemetry (the `service.instance.id` resource
    /// attribute). Default: the host name.
    #[arg(long, value_name = "NAME", requires = "otlp")]
    pub replica: Option<String>,
}

/// Limit flags shared by commands that run a tool.
#[derive(Debug, Args, Clone, Default)]
pub struct LimitFlags {
    /// Fuel for the call (roughly, wasm instructions). Default 2000000000.
    #[arg(long, value_name = "N")]
    pub fuel: Option<u64>,
    /// Linear-memory cap, e.g. `64MiB`. Default 64 MiB.
    #[arg(long, value_name = "SIZE")]
    pub memory: Option<wasmgov::limits::ByteSize>,
    /// Wall-clock cap including time blocked in host calls, e.g. `10s`. Default 10s.
    #[arg(long, value_name = "DUR")]
    pub timeout: Option<wasmgov::limits::HumanDuration>,
    /// Cap on result + stdout + stderr, e.g. `1MiB`. Default 1 MiB.
    #[arg(long = "max-output", value_name = "SIZE")]
    pub max_output: Option<wasmgov::limits::ByteSize>,
    /// Cap on host calls (transitions from the tool into the host). Default 100000.
    #[arg(long = "max-host-calls", value_name = "N")]
    pub max_host_calls: Option<u64>,
    /// Cap on what the host holds for the call (HTTP fields and bodies, streams, handles),
    /// e.g. `4MiB`. Default 16 MiB.
    #[arg(long = "max-host-memory", value_name = "SIZE")]
    pub max_host_memory: Option<wasmgov::limits::ByteSize>,
    /// Cap on bytes the call may add to its read-write binds, e.g. `1MiB`. Default 64 MiB.
    #[arg(long = "max-write", value_name = "SIZE")]
    pub max_write: Option<wasmgov::limits::ByteSize>,
    /// Cap on new files, directories and links the call may create in its binds. Default 1000.
    #[arg(long = "max-files", value_name = "N")]
    pub max_files: Option<u64>,
}

impl LimitFlags {
    /// The flags as overrides.
    pub fn overrides(&self) -> wasmgov::LimitOverrides {
        wasmgov::LimitOverrides {
            fuel: self.fuel,
            memory: self.memory,
            timeout: self.timeout,
            output: self.max_output,
            host_calls: self.max_host_calls,
            host_memory: self.max_host_memory,
            write: self.max_write,
            files: self.max_files,
        }
    }
}

/// `wasmgov run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The tool: a WASI 0.2 component (`.wasm`).
    pub tool: PathBuf,
    /// JSON input for the tool (a command tool reads it on stdin).
    #[arg(long, value_name = "JSON", conflicts_with = "input_file")]
    pub input: Option<String>,
    /// Read the input from a file (`-` for stdin). Without --input or --input-file, stdin is
    /// read when it is not a terminal.
    #[arg(long = "input-file", value_name = "FILE")]
    pub input_file: Option<PathBuf>,
    /// The signed manifest. Default: TOOL.toml beside TOOL.wasm if it exists; its signature is
    /// read from MANIFEST.sig. Without a manifest the tool gets no capability at all.
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Bind a guest path the manifest declares to a host directory; `:read` narrows
    /// read-write to read. Cannot bind anything the manifest does not declare.
    #[arg(long = "dir", value_name = "GUEST=HOST[:read]")]
    pub dirs: Vec<wasmgov::grant::CliBind>,
    /// Value for an environment variable the manifest declares (and the policy allows).
    #[arg(long = "env", value_name = "NAME=VALUE", value_parser = parse_env)]
    pub env: Vec<(String, String)>,
    /// Where a declared secret's value comes from: NAME=@FILE, NAME=file:/path or NAME=env:VAR.
    /// The tool never sees it; the host injects it into requests to the secret's host.
    #[arg(long = "secret", value_name = "NAME=SOURCE", value_parser = parse_secret)]
    pub secrets: Vec<(String, wasmgov::grant::SecretSource)>,
    /// Run a manifest that has no signature (loud: the operator vouches for it).
    #[arg(long)]
    pub allow_unsigned: bool,
    /// Learning mode: run under the grant as always, but record with every refusal what it
    /// would have needed (paths outside the binds included), for `wasmgov suggest`. Grants
    /// nothing.
    #[arg(long)]
    pub observe: bool,
    /// Ratchet (rollback protection) and compile cache. Default: $XDG_STATE_HOME/wasmgov.
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// Audit log: every load, call and host call is appended (JSON Lines, hash-chained). If a
    /// record cannot be written the call stops (exit 6). Default: STATE/audit.jsonl.
    #[arg(long, value_name = "FILE")]
    pub audit: Option<PathBuf>,
    /// OpenSSH Ed25519 private key that signs a checkpoint over the audit chain after the
    /// call (`wasmgov audit verify --key KEY.pub` checks it).
    #[arg(long = "audit-key", value_name = "KEY")]
    pub audit_key: Option<PathBuf>,
    /// Append each detection finding to FILE as an OCSF Detection Finding (class 2004) JSON
    /// line, for a SIEM. Findings always go to the audit log too.
    #[arg(long, value_name = "FILE")]
    pub findings: Option<PathBuf>,
    /// Trust store, revoked keys and policy.
    #[command(flatten)]
    pub trust: TrustFlags,
    /// Limits of this call. Without a manifest they set the call's limits (up to the policy's
    /// ceilings); with one they can only narrow what the manifest and policy allow.
    #[command(flatten)]
    pub limits: LimitFlags,
    /// OpenTelemetry export of the call and its audit records.
    #[command(flatten)]
    pub otlp: OtlpFlags,
}

fn parse_env(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected NAME=VALUE, got `{s}`")),
    }
}

fn parse_secret(s: &str) -> Result<(String, wasmgov::grant::SecretSource), String> {
    let Some((name, source)) = s.split_once('=') else {
        return Err(format!("expected NAME=@FILE or NAME=env:VAR, got `{s}`"));
    };
    Ok((name.to_string(), source.parse()?))
}

/// `wasmgov keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write the private key (0600); the public key goes to FILE.pub. Never overwrites.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: PathBuf,
    /// Comment stored in the key (e.g. the publisher's e-mail).
    #[arg(short = 'C', long, default_value = "wasmgov")]
    pub comment: String,
}

/// `wasmgov sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// OpenSSH Ed25519 private key.
    #[arg(long, value_name = "KEY")]
    pub key: PathBuf,
    /// The manifest to sign (its exact bytes are signed).
    pub manifest: PathBuf,
}

/// `wasmgov verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The manifest; its signature is MANIFEST.sig.
    pub manifest: PathBuf,
    /// Also check the component's pinned sha256 and size.
    #[arg(long, value_name = "TOOL.wasm")]
    pub tool: Option<PathBuf>,
    /// Trust store, revoked keys and policy.
    #[command(flatten)]
    pub trust: TrustFlags,
}

/// `wasmgov pin`.
#[derive(Debug, Args)]
pub struct PinArgs {
    /// The manifest to update in place (comments and layout are kept).
    pub manifest: PathBuf,
    /// The component whose sha256 and size are written.
    pub tool: PathBuf,
}

/// `wasmgov explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The manifest.
    pub manifest: PathBuf,
    /// The operator policy (default as for `run`).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// `--dir` binds as they would be given to `run`.
    #[arg(long = "dir", value_name = "GUEST=HOST[:read]")]
    pub dirs: Vec<wasmgov::grant::CliBind>,
    /// Explain the grant of the manifest run unsigned (`run --allow-unsigned`): least — no
    /// policy secret, private range or bind, only what `--dir` binds.
    #[arg(long)]
    pub unsigned: bool,
    /// Print the grant, which policy entry gave each part and what is withheld, as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `wasmgov describe`.
#[derive(Debug, Args)]
pub struct DescribeArgs {
    /// The tool component.
    pub tool: PathBuf,
    /// Print the description as JSON.
    #[arg(long)]
    pub json: bool,
    /// The signed manifest whose name and description the agent sees. Default: TOOL.toml
    /// beside TOOL.wasm if it exists. It is verified as `run` verifies it.
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Bind a guest path the manifest declares (as for `run`), when the grant needs it.
    #[arg(long = "dir", value_name = "GUEST=HOST[:read]")]
    pub dirs: Vec<wasmgov::grant::CliBind>,
    /// Accept a manifest that has no signature (loud).
    #[arg(long)]
    pub allow_unsigned: bool,
    /// Ratchet and compile cache. Default: $XDG_STATE_HOME/wasmgov.
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// Trust store, revoked keys and policy.
    #[command(flatten)]
    pub trust: TrustFlags,
}

/// `wasmgov inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The component.
    pub tool: PathBuf,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}
