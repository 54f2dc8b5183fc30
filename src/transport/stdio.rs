//! MCP over stdin/stdout. stdout carries only protocol messages; everything else goes to stderr.
//!
//! harepay frames stdin itself instead of handing it to rmcp, so that it can answer what rmcp
//! would drop: a line over [`limits::JSON_RPC_MESSAGE_MAX_BYTES`] is refused after reading at
//! most that much of it into memory, and every unreadable request gets a JSON-RPC error (see
//! [`super::jsonrpc`]). One writer task owns stdout, so those answers and rmcp's never interleave
//! bytes.
//!
//! Memory stays a small multiple of the line limit whatever the client does. Lines wait for the
//! server as read, bounded in number and in bytes, and are parsed one at a time when the server
//! takes them (parsed JSON of small values takes up to ~20 times its text). The reader stops
//! reading stdin while stdout's queue is full: rmcp answers each request from a task of its own,
//! so without that a client that never reads its answers would make it hold one per request.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use rmcp::{RoleServer, ServiceExt};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinHandle;

use crate::limits;
use crate::mcp::HarepayServer;
use crate::transport::jsonrpc;

pub async fn serve(server: HarepayServer) -> anyhow::Result<()> {
    // The client closing stdin ends the session; so do SIGTERM and Ctrl-C, between messages.
    let signalled = super::shutdown_signal();
    let (stdin, stdout) = rmcp::transport::stdio();
    let running = server.serve(LineTransport::new(stdin, stdout)).await?;
    let stop = running.cancellation_token();
    let signals = tokio::spawn(async move {
        signalled.await;
        stop.cancel();
    });
    running.waiting().await?;
    signals.abort();
    Ok(())
}

/// How the `mcpServers` entry of [`connect_hint`] gives the client its key.
#[derive(Debug, Clone, Copy)]
pub enum HintKey<'a> {
    /// A key whose secret is published anyway (the demo keys): written out.
    Published(&'a str),
    /// The key file this server was started with: its path, never its contents.
    File(&'a Path),
    /// Any other key: a secret is never echoed to a terminal, so the entry has a placeholder.
    Withheld,
}

/// What `harepay stdio` prints when a person starts it in a terminal: what it is, and a
/// ready-to-paste `mcpServers` entry that starts this very binary on this database.
pub fn connect_hint(executable: &Path, database: &str, key: HintKey) -> String {
    // Written by hand to keep the order people expect (command, args, env); every value is a JSON
    // string literal, escaped by serde_json.
    let quoted = |text: &str| serde_json::to_string(text).expect("strings serialize");
    let path = |path: &Path| quoted(&path.display().to_string());
    let key_entry = match key {
        HintKey::Published(secret) => format!("\"HAREPAY_SECRET_KEY\": {}", quoted(secret)),
        HintKey::File(file) => format!("\"HAREPAY_SECRET_KEY_FILE\": {}", path(file)),
        HintKey::Withheld => "\"HAREPAY_SECRET_KEY\": \"YOUR_SECRET_KEY\"".to_owned(),
    };
    let entry = format!(
        r#"{{
  "mcpServers": {{
    "harepay": {{
      "command": {command},
      "args": ["stdio"],
      "env": {{ {key_entry}, "HAREPAY_DB": {database} }}
    }}
  }}
}}"#,
        command = path(executable),
        database = quoted(database)
    );
    let withheld_note = match key {
        HintKey::Withheld => {
            "\n  (your key is not printed: put it in place of YOUR_SECRET_KEY, or use HAREPAY_SECRET_KEY_FILE)"
        }
        HintKey::Published(_) | HintKey::File(_) => "",
    };
    format!(
        "harepay is an MCP server: it speaks JSON-RPC on stdin/stdout and is started by an MCP client, not typed at.\n\
         - Claude Desktop (claude_desktop_config.json), Cursor (.cursor/mcp.json) and other clients: add this to \
         their mcpServers:\n{entry}{withheld_note}\n\
         - Inspector: npx -y @modelcontextprotocol/inspector@2.12.0 --cli {executable} stdio --method tools/list\n\
         - A guided tour through the real protocol, from the source checkout: cargo run --release -p harepay-tools -- demo\n\
         Waiting for a client on stdin (Ctrl-C to quit).",
        executable = executable.display()
    )
}

/// Newline-delimited JSON-RPC over a reader and a writer, read with a bounded line buffer.
pub struct LineTransport {
    incoming: mpsc::Receiver<QueuedLine>,
    outgoing: Option<mpsc::Sender<Vec<u8>>>,
    /// An answer to an unreadable message, waiting for room in stdout's queue. It lives here and
    /// not in `receive`, because rmcp drops a `receive` in progress whenever another event
    /// comes first.
    pending_reply: Option<Vec<u8>>,
    reader: JoinHandle<()>,
    writer: Option<JoinHandle<()>>,
}

/// A stdin line waiting for the server.
enum QueuedLine {
    /// A line as read, holding its bytes of `STDIO_QUEUE_MAX_BYTES` until the server takes it.
    Message { bytes: Vec<u8>, _queued: OwnedSemaphorePermit },
    /// A line over the limit, read no further.
    TooLarge,
}

impl LineTransport {
    pub fn new<R, W>(read: R, write: W) -> LineTransport
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let (incoming_sender, incoming) = mpsc::channel(limits::STDIO_QUEUE_MAX_MESSAGES);
        let (outgoing, outgoing_receiver) = mpsc::channel(limits::STDIO_QUEUE_MAX_MESSAGES);
        let queue_bytes = Arc::new(Semaphore::new(limits::STDIO_QUEUE_MAX_BYTES));
        let reader = tokio::spawn(read_lines(
            BufReader::with_capacity(64 * 1024, read),
            incoming_sender,
            queue_bytes,
            outgoing.clone(),
        ));
        let writer = tokio::spawn(write_lines(write, outgoing_receiver));
        LineTransport { incoming, outgoing: Some(outgoing), pending_reply: None, reader, writer: Some(writer) }
    }
}

fn line_of(message: &impl serde::Serialize) -> Result<Vec<u8>, serde_json::Error> {
    let mut line = serde_json::to_vec(message)?;
    line.push(b'\n');
    Ok(line)
}

fn closed() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the stdio transport is closed")
}

impl Transport<RoleServer> for LineTransport {
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let outgoing = self.outgoing.clone();
        let line = line_of(&item);
        async move {
            let outgoing = outgoing.ok_or_else(closed)?;
            outgoing.send(line?).await.map_err(|_| closed())
        }
    }

    /// The next readable message; unreadable ones are answered here. Cancel-safe: every await
    /// leaves what it has not finished in `self`.
    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleServer>> {
        loop {
            if self.pending_reply.is_some() {
                let room = self.outgoing.as_ref()?.reserve().await.ok()?;
                room.send(self.pending_reply.take().expect("checked above"));
            }
            let reply = match self.incoming.recv().await? {
                QueuedLine::Message { bytes, .. } => match jsonrpc::parse_client_message(&bytes) {
                    Ok(message) => return Some(message),
                    Err(reply) => reply,
                },
                QueuedLine::TooLarge => Some(jsonrpc::too_large_reply()),
            };
            match reply {
                Some(reply) => {
                    tracing::debug!(code = reply.error.code, message = %reply.error.message, "answered an unreadable message");
                    self.pending_reply = Some(line_of(&reply).expect("a JSON value serializes"));
                }
                None => tracing::debug!("ignored an unreadable notification or response"),
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.reader.abort();
        self.outgoing = None;
        if let Some(writer) = self.writer.take() {
            // The writer ends once every queued answer is written and every sender is gone.
            let flush = Duration::from_millis(limits::STDIO_EXIT_FLUSH_MS);
            if tokio::time::timeout(flush, writer).await.is_err() {
                tracing::warn!("stdout was not flushed within {} ms at exit", limits::STDIO_EXIT_FLUSH_MS);
            }
        }
        Ok(())
    }
}

/// Reads lines and queues them for the server, within the queue's bounds, while stdout has room.
async fn read_lines(
    mut read: impl AsyncBufRead + Unpin,
    incoming: mpsc::Sender<QueuedLine>,
    queue_bytes: Arc<Semaphore>,
    outgoing: mpsc::Sender<Vec<u8>>,
) {
    let mut line = Vec::new();
    loop {
        // Wait for room in stdout's queue (and give it back at once): room is granted in turn,
        // after the answers already waiting, so nothing more is read while they wait.
        if outgoing.reserve().await.is_err() {
            return;
        }
        let queued = match read_bounded_line(&mut read, &mut line, limits::JSON_RPC_MESSAGE_MAX_BYTES).await {
            Ok(LineRead::Line) => {
                let message = line.strip_suffix(b"\r").unwrap_or(&line);
                if message.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let size = u32::try_from(message.len()).expect("a line is at most the message limit");
                let Ok(queued) = queue_bytes.clone().acquire_many_owned(size).await else {
                    return;
                };
                QueuedLine::Message { bytes: message.to_vec(), _queued: queued }
            }
            Ok(LineRead::TooLarge) => {
                tracing::warn!(limit_bytes = limits::JSON_RPC_MESSAGE_MAX_BYTES, "refused a stdin line over the limit");
                QueuedLine::TooLarge
            }
            Ok(LineRead::End) => return,
            Err(error) => {
                tracing::error!(%error, "could not read stdin");
                return;
            }
        };
        if incoming.send(queued).await.is_err() {
            return;
        }
    }
}

async fn write_lines(mut write: impl AsyncWrite + Unpin, mut outgoing: mpsc::Receiver<Vec<u8>>) {
    while let Some(line) = outgoing.recv().await {
        if let Err(error) = write.write_all(&line).await {
            tracing::error!(%error, "could not write to stdout");
            return;
        }
        // Flush when nothing else is waiting: one flush for a burst of answers.
        if outgoing.is_empty()
            && let Err(error) = write.flush().await
        {
            tracing::error!(%error, "could not flush stdout");
            return;
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum LineRead {
    /// `line` holds one line, without its newline.
    Line,
    /// The line was longer than the limit: what was read of it is dropped and the rest skipped.
    TooLarge,
    /// The stream ended. A last line without a newline is delivered first, as a `Line`.
    End,
}

/// Reads the next line into `line` (cleared first), never holding more than `max_bytes` of it.
async fn read_bounded_line(
    read: &mut (impl AsyncBufRead + Unpin),
    line: &mut Vec<u8>,
    max_bytes: usize,
) -> std::io::Result<LineRead> {
    line.clear();
    let mut too_large = false;
    loop {
        let available = read.fill_buf().await?;
        if available.is_empty() {
            return Ok(match (too_large, line.is_empty()) {
                (true, _) => LineRead::TooLarge,
                (false, true) => LineRead::End,
                (false, false) => LineRead::Line,
            });
        }
        let newline = available.iter().position(|byte| *byte == b'\n');
        let content = &available[..newline.unwrap_or(available.len())];
        if !too_large && line.len() + content.len() > max_bytes {
            too_large = true;
            // Give the memory back: a refused line must not keep a large buffer alive.
            *line = Vec::new();
        }
        if !too_large {
            line.extend_from_slice(content);
        }
        let consumed = newline.map_or(available.len(), |index| index + 1);
        read.consume(consumed);
        if newline.is_some() {
            return Ok(if too_large { LineRead::TooLarge } else { LineRead::Line });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(input: &[u8], max_bytes: usize) -> Vec<(LineRead, Vec<u8>)> {
        // A 3-byte buffer makes every line span several reads.
        let mut read = BufReader::with_capacity(3, input);
        let mut line = Vec::new();
        let mut out = Vec::new();
        loop {
            let got = read_bounded_line(&mut read, &mut line, max_bytes).await.unwrap();
            if got == LineRead::End {
                return out;
            }
            assert!(line.capacity() <= max_bytes.max(8) * 2, "the buffer stays bounded");
            out.push((got, line.clone()));
        }
    }

    #[tokio::test]
    async fn waiting_lines_are_bounded_by_bytes_and_all_arrive_in_order() {
        use std::sync::atomic::{AtomicUsize, Ordering};

        use rmcp::model::{JsonRpcMessage, NumberOrString};
        use tokio::io::AsyncWriteExt;

        let line_bytes = limits::JSON_RPC_MESSAGE_MAX_BYTES;
        let line_count = 3 * limits::STDIO_QUEUE_MAX_BYTES / line_bytes;
        let (mut stdin, read) = tokio::io::duplex(64 * 1024);
        let mut transport = LineTransport::new(read, tokio::io::sink());
        let written = Arc::new(AtomicUsize::new(0));
        let counted = written.clone();
        let client = tokio::spawn(async move {
            for id in 0..line_count {
                let empty =
                    format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping","params":{{"_meta":{{"pad":""}}}}}}"#);
                let padded = format!(r#""pad":"{}""#, "x".repeat(line_bytes - empty.len()));
                let line = format!("{}\n", empty.replace(r#""pad":"""#, &padded));
                for chunk in line.as_bytes().chunks(16 * 1024) {
                    stdin.write_all(chunk).await.unwrap();
                    counted.fetch_add(chunk.len(), Ordering::SeqCst);
                }
            }
        });
        // Nobody takes the lines: the reader stops once the queue holds its bytes.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let taken = written.load(Ordering::SeqCst);
        let read_ahead_max_bytes = limits::STDIO_QUEUE_MAX_BYTES + line_bytes + 3 * 64 * 1024;
        assert!(taken <= read_ahead_max_bytes, "{taken} bytes taken from stdin");
        for id in 0..line_count {
            match transport.receive().await.expect("a message") {
                JsonRpcMessage::Request(request) => assert_eq!(request.id, NumberOrString::Number(id as i64)),
                other => panic!("{other:?}"),
            }
        }
        client.await.unwrap();
    }

    #[tokio::test]
    async fn lines_over_the_limit_are_skipped_whole_and_reading_goes_on() {
        let got = lines(b"abcd\nabcdefgh\nxy\n\nlast", 5).await;
        assert_eq!(
            got,
            vec![
                (LineRead::Line, b"abcd".to_vec()),
                (LineRead::TooLarge, Vec::new()),
                (LineRead::Line, b"xy".to_vec()),
                (LineRead::Line, Vec::new()),
                (LineRead::Line, b"last".to_vec()),
            ]
        );
        assert_eq!(
            lines(b"abcde\nabcdef", 5).await,
            vec![(LineRead::Line, b"abcde".to_vec()), (LineRead::TooLarge, Vec::new())]
        );
    }

    /// The `mcpServers` entry of a hint, parsed: the JSON between the first `{` line and the
    /// line that closes it.
    fn entry_of(hint: &str) -> serde_json::Value {
        let start = hint.find("\n{").expect("an entry on its own lines") + 1;
        let end = hint[start..].find("\n}").expect("the entry closes") + start + 2;
        serde_json::from_str(&hint[start..end]).unwrap_or_else(|e| panic!("not JSON ({e}): {}", &hint[start..end]))
    }

    #[test]
    fn the_hint_is_a_ready_to_paste_entry_for_this_binary_and_database() {
        let executable = Path::new("/opt/my harepay/target/release/harepay");
        let database = "/home/ada/\"quoted\" dir/harepay.db";
        let hint = connect_hint(executable, database, HintKey::Published("sk_test_demo"));
        let entry = entry_of(&hint);
        let server = &entry["mcpServers"]["harepay"];
        assert_eq!(server["command"], "/opt/my harepay/target/release/harepay", "{hint}");
        assert_eq!(server["args"], serde_json::json!(["stdio"]));
        assert_eq!(server["env"]["HAREPAY_DB"], "/home/ada/\"quoted\" dir/harepay.db");
        assert_eq!(server["env"]["HAREPAY_SECRET_KEY"], "sk_test_demo");
        assert!(hint.contains("--cli /opt/my harepay/target/release/harepay stdio"), "{hint}");
    }

    #[test]
    fn the_hint_never_prints_a_secret_that_is_not_published() {
        let executable = Path::new("/usr/local/bin/harepay");
        let database = "/var/lib/harepay.db";
        let from_file = connect_hint(executable, database, HintKey::File(Path::new("/etc/harepay/key")));
        let server = &entry_of(&from_file)["mcpServers"]["harepay"];
        assert_eq!(server["env"]["HAREPAY_SECRET_KEY_FILE"], "/etc/harepay/key");
        assert!(server["env"].get("HAREPAY_SECRET_KEY").is_none());
        let withheld = connect_hint(executable, database, HintKey::Withheld);
        let server = &entry_of(&withheld)["mcpServers"]["harepay"];
        assert_eq!(server["env"]["HAREPAY_SECRET_KEY"], "YOUR_SECRET_KEY");
        assert!(!withheld.contains("sk_live_") && !withheld.contains("sk_test_"), "{withheld}");
    }
}
