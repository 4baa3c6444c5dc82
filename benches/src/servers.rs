//! Memcached and Redis for the workload: starting a server on loopback, and
//! a minimal client in Rust for each, so that the servers are also measured
//! without a Python client's overhead (the `memcached-rs` and `redis-rs`
//! systems). The clients speak just what the workload needs: get, set and
//! delete of byte strings (Memcached's text protocol, Redis's RESP).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

use crate::Res;

/// A server the harness started; stopped when dropped.
pub struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Which server: Memcached or Redis.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// Memcached, text protocol.
    Memcached,
    /// Redis, RESP.
    Redis,
}

impl Kind {
    /// The server a system name asks for: `memcached` or `redis` (driven
    /// from Python), `memcached-rs` or `redis-rs` (from Rust).
    pub fn of(system: &str) -> Option<Kind> {
        match system {
            "memcached" | "memcached-rs" => Some(Kind::Memcached),
            "redis" | "redis-rs" => Some(Kind::Redis),
            _ => None,
        }
    }

    /// Starts this server on a free port of 127.0.0.1; the server and its port.
    pub fn start(self) -> Res<(Server, u16)> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let port_arg = port.to_string();
        let (program, args): (&str, Vec<&str>) = match self {
            Kind::Memcached => (
                "memcached",
                vec![
                    "-l",
                    "127.0.0.1",
                    "-p",
                    &port_arg,
                    "-U",
                    "0",
                    "-u",
                    "nobody",
                ],
            ),
            Kind::Redis => (
                "redis-server",
                vec![
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    &port_arg,
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
            ),
        };
        let child = Command::new(program)
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!(
                    "{program} is not installed ({e}); install it with: apt-get install {program}"
                )
            })?;
        let server = Server(child);
        for _ in 0..500 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok((server, port));
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        Err(format!("{program} did not start listening on port {port}").into())
    }
}

/// A connection to a server on 127.0.0.1, one request at a time.
pub struct Client {
    kind: Kind,
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    request: Vec<u8>,
    line: Vec<u8>,
}

impl Client {
    /// Connects to `kind` on `port` of 127.0.0.1 (Nagle off: every request
    /// leaves at once).
    pub fn connect(kind: Kind, port: u16) -> Res<Client> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_nodelay(true)?;
        Ok(Client {
            kind,
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
            request: Vec::with_capacity(256),
            line: Vec::with_capacity(64),
        })
    }

    /// Sends the request built in `self.request` and reads the first line
    /// of the answer into `self.line`, without its `\r\n`.
    fn exchange(&mut self) -> Res<()> {
        self.writer.write_all(&self.request)?;
        self.line.clear();
        self.reader.read_until(b'\n', &mut self.line)?;
        if !self.line.ends_with(b"\r\n") {
            return Err("the server closed the connection".into());
        }
        self.line.truncate(self.line.len() - 2);
        Ok(())
    }

    /// Builds a Memcached command line from its words, separated by spaces.
    fn memcached_command(&mut self, words: &[&[u8]]) {
        self.request.clear();
        for (i, word) in words.iter().enumerate() {
            if i > 0 {
                self.request.push(b' ');
            }
            self.request.extend_from_slice(word);
        }
        self.request.extend_from_slice(b"\r\n");
    }

    /// Builds a Redis command from its words.
    fn redis_command(&mut self, words: &[&[u8]]) {
        self.request.clear();
        self.request
            .extend_from_slice(format!("*{}\r\n", words.len()).as_bytes());
        for word in words {
            self.request
                .extend_from_slice(format!("${}\r\n", word.len()).as_bytes());
            self.request.extend_from_slice(word);
            self.request.extend_from_slice(b"\r\n");
        }
    }

    /// Reads `len` bytes of data and the `\r\n` after them.
    fn read_data(&mut self, len: &[u8]) -> Res<Vec<u8>> {
        let len: usize = std::str::from_utf8(len)?.parse()?;
        let mut data = vec![0; len + 2];
        self.reader.read_exact(&mut data)?;
        data.truncate(len);
        Ok(data)
    }

    /// The value of `key`, or `None`.
    pub fn get(&mut self, key: &[u8]) -> Res<Option<Vec<u8>>> {
        match self.kind {
            Kind::Memcached => {
                self.memcached_command(&[b"get", key]);
                self.exchange()?;
                if self.line == b"END" {
                    return Ok(None);
                }
                // VALUE <key> <flags> <bytes>
                if !self.line.starts_with(b"VALUE ") {
                    return Err(self.unexpected());
                }
                let len = self
                    .line
                    .rsplit(|&b| b == b' ')
                    .next()
                    .ok_or("a VALUE line without a length")?
                    .to_vec();
                let data = self.read_data(&len)?;
                self.line.clear();
                self.reader.read_until(b'\n', &mut self.line)?;
                if self.line != b"END\r\n" {
                    return Err(self.unexpected());
                }
                Ok(Some(data))
            }
            Kind::Redis => {
                self.redis_command(&[b"GET", key]);
                self.exchange()?;
                match self.line.split_first() {
                    Some((b'$', b"-1")) => Ok(None),
                    Some((b'$', len)) => {
                        let len = len.to_vec();
                        Ok(Some(self.read_data(&len)?))
                    }
                    _ => Err(self.unexpected()),
                }
            }
        }
    }

    /// Stores `value` under `key`.
    pub fn set(&mut self, key: &[u8], value: &[u8]) -> Res<()> {
        let expected: &[u8] = match self.kind {
            Kind::Memcached => {
                let len = value.len().to_string();
                self.memcached_command(&[b"set", key, b"0", b"0", len.as_bytes()]);
                self.request.extend_from_slice(value);
                self.request.extend_from_slice(b"\r\n");
                b"STORED"
            }
            Kind::Redis => {
                self.redis_command(&[b"SET", key, value]);
                b"+OK"
            }
        };
        self.exchange()?;
        if self.line != expected {
            return Err(self.unexpected());
        }
        Ok(())
    }

    /// Removes `key`; whether it was present.
    pub fn delete(&mut self, key: &[u8]) -> Res<bool> {
        let (found, missing): (&[u8], &[u8]) = match self.kind {
            Kind::Memcached => {
                self.memcached_command(&[b"delete", key]);
                (b"DELETED", b"NOT_FOUND")
            }
            Kind::Redis => {
                self.redis_command(&[b"DEL", key]);
                (b":1", b":0")
            }
        };
        self.exchange()?;
        if self.line == found {
            Ok(true)
        } else if self.line == missing {
            Ok(false)
        } else {
            Err(self.unexpected())
        }
    }

    /// The error for an answer this client does not expect.
    fn unexpected(&self) -> Box<dyn std::error::Error> {
        format!(
            "{:?} answered {:?}",
            self.kind,
            String::from_utf8_lossy(&self.line)
        )
        .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// get, set and delete against the real servers, where installed (CI
    /// installs both).
    #[test]
    fn clients_speak_to_real_servers() -> Res<()> {
        for kind in [Kind::Memcached, Kind::Redis] {
            let (_server, port) = match kind.start() {
                Ok(started) => started,
                Err(e) => {
                    eprintln!("skipping {kind:?}: {e}");
                    continue;
                }
            };
            let mut client = Client::connect(kind, port)?;
            assert_eq!(client.get(b"k")?, None);
            client.set(b"k", b"first value")?;
            assert_eq!(client.get(b"k")?.as_deref(), Some(&b"first value"[..]));
            // A value holding the protocols' own separators comes back whole.
            let tricky = b"line\r\nEND\r\n$5\r\n:1\r\n";
            client.set(b"k", tricky)?;
            assert_eq!(client.get(b"k")?.as_deref(), Some(&tricky[..]));
            client.set(b"empty", b"")?;
            assert_eq!(client.get(b"empty")?.as_deref(), Some(&b""[..]));
            assert!(client.delete(b"k")?);
            assert!(!client.delete(b"k")?);
            assert_eq!(client.get(b"k")?, None);
        }
        Ok(())
    }
}
