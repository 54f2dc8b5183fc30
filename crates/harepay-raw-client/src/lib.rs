//! A raw MCP client for `harepay stdio`: newline-delimited JSON-RPC written and read by hand, as a
//! minimal or broken client would, and as a benchmark needs (no SDK between the measurement and
//! the server). The integration tests and `harepay-tools bench` share it.
//!
//! Reads are direct blocking reads on the child's stdout: no thread hands messages over, so a
//! round trip measures the server and the pipe, not the client. A hung server is caught by an
//! optional answer timeout (`with_answer_timeout`), after which a watchdog kills the server and
//! the waiting read fails.

use std::io::{self, BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The protocol version `initialize` asks for: a session-based generation every client speaks.
pub const SESSION_PROTOCOL_VERSION: &str = "2025-06-18";

/// `harepay stdio` (or any newline-delimited JSON-RPC server) as a child process.
pub struct RawClient {
    child: Arc<Mutex<Child>>,
    pid: u32,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    line: String,
    next_id: u64,
    watchdog: Option<Watchdog>,
}

impl RawClient {
    /// Starts `command` with its stdin and stdout piped to this client (stderr as the command
    /// says). Ids handed out by `next_id` start at 1; 0 is the `initialize` request's.
    pub fn spawn(command: &mut Command) -> io::Result<RawClient> {
        let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = BufReader::with_capacity(64 * 1024, child.stdout.take().expect("stdout is piped"));
        let pid = child.id();
        Ok(RawClient {
            child: Arc::new(Mutex::new(child)),
            pid,
            stdin: Some(stdin),
            stdout,
            line: String::new(),
            next_id: 1,
            watchdog: None,
        })
    }

    /// Kills the server when one read waits longer than `timeout`; that read then fails with
    /// `TimedOut` instead of blocking forever.
    pub fn with_answer_timeout(mut self, timeout: Duration) -> RawClient {
        self.watchdog = Some(Watchdog::start(self.child.clone(), timeout));
        self
    }

    /// The server's process id, e.g. to read its memory from /proc.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// A fresh request id.
    pub fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Writes `line` and a newline, as is: it need not be JSON.
    pub fn send_line(&mut self, line: &str) -> io::Result<()> {
        let stdin = self.stdin.as_mut().ok_or_else(stdin_closed)?;
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        stdin.write_all(&bytes)?;
        stdin.flush()
    }

    /// Writes bytes without adding a newline, e.g. one huge line in parts.
    pub fn send_bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
        let stdin = self.stdin.as_mut().ok_or_else(stdin_closed)?;
        stdin.write_all(bytes)?;
        stdin.flush()
    }

    pub fn send(&mut self, message: &Value) -> io::Result<()> {
        self.send_line(&message.to_string())
    }

    /// Sends a `tools/call` and returns its id.
    pub fn send_call(&mut self, tool: &str, arguments: &Value) -> io::Result<u64> {
        let id = self.next_id();
        self.send(&json!({
            "jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": arguments}
        }))?;
        Ok(id)
    }

    /// The next message the server writes. Fails when stdout closes or carries anything but one
    /// JSON value per line.
    pub fn receive(&mut self) -> io::Result<Value> {
        self.line.clear();
        let read = {
            let _waiting = self.watchdog.as_ref().map(Watchdog::waiting);
            self.stdout.read_line(&mut self.line)
        };
        if self.watchdog.as_ref().is_some_and(Watchdog::fired) {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "no answer in time: the server was killed"));
        }
        if read? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the server closed stdout"));
        }
        serde_json::from_str(&self.line).map_err(|error| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("stdout carries only JSON-RPC, one message a line: {:?} ({error})", self.line),
            )
        })
    }

    /// The message answering request `id`; messages before it (notifications, other answers) are
    /// skipped. An error answer is returned like any other.
    pub fn response(&mut self, id: u64) -> io::Result<Value> {
        loop {
            let message = self.receive()?;
            if message.get("id").and_then(Value::as_u64) == Some(id) {
                return Ok(message);
            }
        }
    }

    /// Sends `message` and returns the next message the server writes.
    pub fn request(&mut self, message: &Value) -> io::Result<Value> {
        self.send(message)?;
        self.receive()
    }

    /// The session handshake: `initialize` (id 0) and `notifications/initialized`. Returns the
    /// `initialize` answer.
    pub fn initialize(&mut self, client_name: &str) -> io::Result<Value> {
        let answer = self.request(&json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {
                "protocolVersion": SESSION_PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": client_name, "version": "0"}
            }
        }))?;
        if answer["id"] != json!(0) || !answer["result"]["protocolVersion"].is_string() {
            return Err(io::Error::other(format!("initialize was not answered: {answer}")));
        }
        self.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))?;
        Ok(answer)
    }

    /// SIGKILL; then every message the server had written whole before it died. A line cut
    /// short by the kill was never written whole: it is not a message.
    pub fn kill(&mut self) -> Vec<Value> {
        {
            let mut child = self.child.lock().expect("child lock");
            let _ = child.kill();
            let _ = child.wait();
        }
        self.stdin = None;
        let mut written = Vec::new();
        loop {
            self.line.clear();
            match self.stdout.read_line(&mut self.line) {
                Ok(0) | Err(_) => return written,
                Ok(_) if !self.line.ends_with('\n') => return written,
                Ok(_) => match serde_json::from_str(&self.line) {
                    Ok(message) => written.push(message),
                    Err(_) => return written,
                },
            }
        }
    }

    /// Closes stdin, as a client hanging up does, and waits up to `grace` for the server to end
    /// by itself; after that it is killed and this fails.
    pub fn close(&mut self, grace: Duration) -> io::Result<ExitStatus> {
        self.stdin = None;
        let deadline = Instant::now() + grace;
        loop {
            if let Some(status) = self.child.lock().expect("child lock").try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                self.kill();
                return Err(io::Error::new(io::ErrorKind::TimedOut, "the server did not end after stdin closed"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for RawClient {
    fn drop(&mut self) {
        if let Ok(mut child) = self.child.lock()
            && matches!(child.try_wait(), Ok(None))
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn stdin_closed() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "stdin to the server is closed")
}

/// Kills the server when a read has waited longer than the timeout.
struct Watchdog {
    shared: Arc<WatchdogState>,
    thread: Option<JoinHandle<()>>,
}

struct WatchdogState {
    /// When the read now waiting began; `None` between reads.
    waiting_since: Mutex<Option<Instant>>,
    fired: AtomicBool,
    stopped: AtomicBool,
}

/// Marks one read as waiting while it lives.
struct Waiting<'a>(&'a WatchdogState);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        *self.0.waiting_since.lock().expect("watchdog lock") = None;
    }
}

impl Watchdog {
    fn start(child: Arc<Mutex<Child>>, timeout: Duration) -> Watchdog {
        let shared = Arc::new(WatchdogState {
            waiting_since: Mutex::new(None),
            fired: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
        });
        let state = shared.clone();
        let tick = (timeout / 10).clamp(Duration::from_millis(1), Duration::from_millis(100));
        let thread = std::thread::spawn(move || {
            while !state.stopped.load(Ordering::Relaxed) {
                std::thread::sleep(tick);
                let since = *state.waiting_since.lock().expect("watchdog lock");
                if since.is_some_and(|since| since.elapsed() > timeout) {
                    state.fired.store(true, Ordering::Relaxed);
                    let _ = child.lock().expect("child lock").kill();
                    return;
                }
            }
        });
        Watchdog { shared, thread: Some(thread) }
    }

    fn waiting(&self) -> Waiting<'_> {
        *self.shared.waiting_since.lock().expect("watchdog lock") = Some(Instant::now());
        Waiting(&self.shared)
    }

    fn fired(&self) -> bool {
        self.shared.fired.load(Ordering::Relaxed)
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shell that answers every line with a JSON-RPC result for id 1, after a notification.
    fn echo_server() -> Command {
        let mut command = Command::new("sh");
        command.arg("-c").arg(
            r#"while read -r line; do printf '%s\n' '{"jsonrpc":"2.0","method":"note"}' '{"jsonrpc":"2.0","id":1,"result":{}}'; done"#,
        );
        command
    }

    #[test]
    fn a_response_skips_the_messages_before_it() {
        let mut client = RawClient::spawn(&mut echo_server()).unwrap();
        client.send_line("anything").unwrap();
        assert_eq!(client.response(1).unwrap(), json!({"jsonrpc": "2.0", "id": 1, "result": {}}));
        assert!(client.close(Duration::from_secs(10)).unwrap().success());
    }

    #[test]
    fn a_silent_server_is_killed_after_the_answer_timeout() {
        let mut silent = Command::new("sleep");
        silent.arg("600");
        let mut client = RawClient::spawn(&mut silent).unwrap().with_answer_timeout(Duration::from_millis(200));
        let started = Instant::now();
        let error = client.receive().unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut, "{error}");
        assert!(started.elapsed() < Duration::from_secs(60), "the read ended with the kill");
    }

    #[test]
    fn non_json_on_stdout_is_an_error_not_a_message() {
        let mut command = Command::new("sh");
        // `exec`: the sleep is the child itself, killed with the client, not an orphan that keeps
        // the test's output open.
        command.arg("-c").arg("echo 'log line on stdout'; exec sleep 600");
        let mut client = RawClient::spawn(&mut command).unwrap();
        assert_eq!(client.receive().unwrap_err().kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn after_a_kill_only_whole_lines_count() {
        let mut command = Command::new("sh");
        command.arg("-c").arg(r#"printf '{"id":1}\n{"id":2}\n{"id":'; exec sleep 600"#);
        let mut client = RawClient::spawn(&mut command).unwrap();
        assert_eq!(client.receive().unwrap(), json!({"id": 1}));
        assert_eq!(client.kill(), vec![json!({"id": 2})]);
    }
}
