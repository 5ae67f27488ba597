// rust_echo_server: a TCP echo server that talks to WasmEdge's socket extension exactly the way a
// program built on the `wasmedge_wasi_socket` crate does, to show such programs run unchanged
// under RepliCode. Usage: rust_echo_server [PORT [CONNECTIONS]] (port 8080 by default; with
// CONNECTIONS it exits after that many connections have closed).
//
// The imports below are written from the crate's own declarations: repository
// second-state/wasmedge_wasi_socket, src/socket.rs at commit
// 0d413b2b08fdf5cacf7f7b1d656d34f99538238a (the 0.5.x line after 0.5.3, where the 8-argument
// sock_recv_from is unconditional) and src/wasi_poll.rs (poll_oneoff). Same names, same Rust
// types, so the same wasm signatures and argument conventions:
// - sock_accept takes two arguments (WasmEdge's V1 form: no flags); like the crate, the new
//   socket is made non-blocking afterwards with fcntl (wasi-libc: fd_fdstat_get/set_flags);
// - bind and connect take a __wasi_address_t of 4 or 16 bytes and the port as a plain u32;
// - getlocaladdr/getpeeraddr take a 16-byte buffer and answer an address type (4 or 6) and a
//   u32 port; get/setsockopt use level 0 and WasmEdge's option numbers;
// - every socket is shut down (both ways) then closed when dropped.
// The listener/stream wrappers mirror the crate's TcpListener::bind (setsockopt SO_REUSEADDR,
// bind, listen 128, fcntl O_NONBLOCK) and its poll module (FD_READ/FD_WRITE subscriptions).
// No crate code is copied: only the ABI is the same. Built with rustc's std only.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// The wasm imports, declared as the crate declares them.
mod abi {
    #[repr(C)]
    pub struct WasiAddress {
        pub buf: *const u8,
        pub size: usize,
    }

    #[repr(C)]
    pub struct IovecRead {
        pub buf: *mut u8,
        pub size: usize,
    }

    #[repr(C)]
    pub struct IovecWrite {
        pub buf: *const u8,
        pub size: usize,
    }

    #[link(wasm_import_module = "wasi_snapshot_preview1")]
    extern "C" {
        pub fn sock_open(addr_family: u8, sock_type: u8, fd: *mut u32) -> u32;
        pub fn sock_bind(fd: u32, addr: *mut WasiAddress, port: u32) -> u32;
        pub fn sock_listen(fd: u32, backlog: u32) -> u32;
        pub fn sock_accept(fd: u32, new_fd: *mut u32) -> u32;
        pub fn sock_connect(fd: u32, addr: *mut WasiAddress, port: u32) -> u32;
        pub fn sock_recv(fd: u32, buf: *mut IovecRead, buf_len: usize, flags: u16, recv_len: *mut usize, oflags: *mut usize) -> u32;
        pub fn sock_recv_from(fd: u32, buf: *mut IovecRead, buf_len: u32, addr: *mut u8, flags: u16, port: *mut u32, recv_len: *mut usize, oflags: *mut usize) -> u32;
        pub fn sock_send(fd: u32, buf: *const IovecWrite, buf_len: u32, flags: u16, send_len: *mut u32) -> u32;
        pub fn sock_send_to(fd: u32, buf: *const IovecWrite, buf_len: u32, addr: *const u8, port: u32, flags: u16, send_len: *mut u32) -> u32;
        pub fn sock_shutdown(fd: u32, how: u8) -> u32;
        pub fn sock_getpeeraddr(fd: u32, addr: *mut WasiAddress, addr_type: *mut u32, port: *mut u32) -> u32;
        pub fn sock_getlocaladdr(fd: u32, addr: *mut WasiAddress, addr_type: *mut u32, port: *mut u32) -> u32;
        pub fn sock_getsockopt(fd: u32, level: i32, name: i32, flag: *mut i32, flag_size: *mut u32) -> u32;
        pub fn sock_setsockopt(fd: u32, level: i32, name: i32, flag: *const i32, flag_size: u32) -> u32;
        // The crate's hints argument is its WasiAddrinfo record; the wasm type is the same i32.
        pub fn sock_getaddrinfo(node: *const u8, node_len: u32, service: *const u8, service_len: u32, hints: *const u8, res: *mut u32, max_len: u32, res_len: *mut u32) -> u32;
        pub fn poll_oneoff(in_: i32, out: i32, nsubscriptions: i32, nevents: i32) -> i32;
    }

    // wasi-libc (linked by Rust's std), as the crate reaches it through the libc crate.
    extern "C" {
        pub fn fcntl(fd: i32, cmd: i32, ...) -> i32;
        pub fn close(fd: i32) -> i32;
    }
    pub const F_GETFL: i32 = 3;
    pub const F_SETFL: i32 = 4;
    pub const O_NONBLOCK: i32 = 4;

    /// The echo server never connects, resolves names or sends datagrams, but a program using
    /// the crate links these too: keeping them in the import section makes RepliCode link the
    /// crate's whole socket ABI, not only the part this server calls.
    struct Unused([*const (); 4]);
    unsafe impl Sync for Unused {}
    static UNUSED: Unused = Unused([
        sock_connect as *const (),
        sock_recv_from as *const (),
        sock_send_to as *const (),
        sock_getaddrinfo as *const (),
    ]);

    /// A volatile read the optimiser cannot drop, so the linker keeps the imports above.
    pub fn keep_unused_imports() {
        unsafe { std::ptr::read_volatile(&UNUSED.0) };
    }
}

const AF_INET4: u8 = 1;
const SOCK_STREAM: u8 = 2;
const SOL_SOCKET: i32 = 0;
const SO_REUSEADDR: i32 = 0;
const SO_TYPE: i32 = 1;
const SO_ACCEPTCONN: i32 = 13;
const SHUTDOWN_BOTH: u8 = 3;
const ERRNO_NETDOWN: i32 = 38;

fn check(errno: u32) -> io::Result<()> {
    if errno == 0 { Ok(()) } else { Err(io::Error::from_raw_os_error(errno as i32)) }
}

fn fcntl(fd: i32, cmd: i32, arg: i32) -> io::Result<i32> {
    let r = unsafe { abi::fcntl(fd, cmd, arg) };
    if r == -1 { Err(io::Error::last_os_error()) } else { Ok(r) }
}

/// One socket fd: shut down and closed on drop, as the crate's Socket is.
struct Socket {
    fd: i32,
}

impl Socket {
    fn open() -> io::Result<Socket> {
        let mut fd = 0u32;
        check(unsafe { abi::sock_open(AF_INET4, SOCK_STREAM, &mut fd) })?;
        Ok(Socket { fd: fd as i32 })
    }

    fn set_option(&self, name: i32, value: i32) -> io::Result<()> {
        let size = std::mem::size_of::<i32>() as u32;
        check(unsafe { abi::sock_setsockopt(self.fd as u32, SOL_SOCKET, name, &value, size) })
    }

    fn option(&self, name: i32) -> io::Result<i32> {
        let (mut value, mut size) = (0i32, std::mem::size_of::<i32>() as u32);
        check(unsafe { abi::sock_getsockopt(self.fd as u32, SOL_SOCKET, name, &mut value, &mut size) })?;
        Ok(value)
    }

    fn bind(&self, addr: &SocketAddrV4) -> io::Result<()> {
        let mut ip = [0u8; 16];
        ip[..4].copy_from_slice(&addr.ip().octets());
        let mut wasi = abi::WasiAddress { buf: ip.as_ptr(), size: 4 };
        check(unsafe { abi::sock_bind(self.fd as u32, &mut wasi, addr.port() as u32) })
    }

    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        let flags = fcntl(self.fd, abi::F_GETFL, 0)?;
        let wanted = if nonblocking { flags | abi::O_NONBLOCK } else { flags & !abi::O_NONBLOCK };
        if wanted != flags { fcntl(self.fd, abi::F_SETFL, wanted)?; }
        Ok(())
    }

    fn accept(&self, nonblocking: bool) -> io::Result<Socket> {
        let mut fd = 0u32;
        check(unsafe { abi::sock_accept(self.fd as u32, &mut fd) })?;
        let s = Socket { fd: fd as i32 };
        s.set_nonblocking(nonblocking)?;
        Ok(s)
    }

    /// sock_getlocaladdr or sock_getpeeraddr: a 16-byte buffer, type 4 or 6 (or the enum 1 or 2).
    fn address(&self, peer: bool) -> io::Result<SocketAddr> {
        let buf = [0u8; 16];
        let mut wasi = abi::WasiAddress { buf: buf.as_ptr(), size: 16 };
        let (mut kind, mut port) = (0u32, 0u32);
        let call = if peer { abi::sock_getpeeraddr } else { abi::sock_getlocaladdr };
        check(unsafe { call(self.fd as u32, &mut wasi, &mut kind, &mut port) })?;
        match kind {
            4 | 1 => Ok(SocketAddrV4::new(Ipv4Addr::new(buf[0], buf[1], buf[2], buf[3]), port as u16).into()),
            6 | 2 => Ok(SocketAddrV6::new(Ipv6Addr::from(buf), port as u16, 0, 0).into()),
            _ => Err(io::Error::new(io::ErrorKind::Unsupported, format!("address type {}", kind))),
        }
    }

    fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        let mut iov = abi::IovecRead { buf: buf.as_mut_ptr(), size: buf.len() };
        let (mut len, mut oflags) = (0usize, 0usize);
        check(unsafe { abi::sock_recv(self.fd as u32, &mut iov, 1, 0, &mut len, &mut oflags) })?;
        Ok(len)
    }

    fn send(&self, buf: &[u8]) -> io::Result<usize> {
        let iov = abi::IovecWrite { buf: buf.as_ptr(), size: buf.len() };
        let mut len = 0u32;
        check(unsafe { abi::sock_send(self.fd as u32, &iov, 1, 0, &mut len) })?;
        Ok(len as usize)
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        unsafe {
            abi::sock_shutdown(self.fd as u32, SHUTDOWN_BOTH);
            abi::close(self.fd);
        }
    }
}

struct TcpListener {
    s: Socket,
}

impl TcpListener {
    /// The crate's bind helper: open, SO_REUSEADDR, bind, listen(128), then the blocking mode.
    fn bind(addr: SocketAddrV4, nonblocking: bool) -> io::Result<TcpListener> {
        let s = Socket::open()?;
        s.set_option(SO_REUSEADDR, 1)?;
        s.bind(&addr)?;
        check(unsafe { abi::sock_listen(s.fd as u32, 128) })?;
        s.set_nonblocking(nonblocking)?;
        Ok(TcpListener { s })
    }

    fn accept(&self, nonblocking: bool) -> io::Result<(TcpStream, SocketAddr)> {
        let stream = TcpStream { s: self.s.accept(nonblocking)? };
        let peer = stream.s.address(true)?;
        Ok((stream, peer))
    }
}

struct TcpStream {
    s: Socket,
}

impl Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.s.recv(buf)
    }
}

impl Write for TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.s.send(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What one poll_oneoff subscription waits for.
#[derive(Clone, Copy, PartialEq)]
enum Interest {
    Read,
    Write,
}

/// The preview1 subscription (48 bytes) and event (32 bytes), as the crate's wasi_poll lays them out.
#[repr(C)]
#[derive(Clone, Copy)]
struct Subscription {
    userdata: u64,
    tag: u8,
    _pad: [u8; 7],
    fd: u32, // the union starts at 16: its clock variant holds u64s
    _rest: [u32; 7],
}

#[repr(C)]
#[derive(Clone, Copy)]
struct Event {
    userdata: u64,
    error: u16,
    kind: u8,
    nbytes: u64,
    flags: u16,
}

const _: () = assert!(std::mem::size_of::<Subscription>() == 48 && std::mem::size_of::<Event>() == 32);

/// Waits until some of `fds` is ready; returns (index into fds, error if the event carried one).
fn poll(fds: &[(i32, Interest)]) -> io::Result<Vec<(usize, Option<io::Error>)>> {
    let subs: Vec<Subscription> = fds.iter().enumerate().map(|(i, &(fd, interest))| Subscription {
        userdata: i as u64,
        tag: if interest == Interest::Read { 1 } else { 2 },
        _pad: [0; 7],
        fd: fd as u32,
        _rest: [0; 7],
    }).collect();
    let mut events = vec![Event { userdata: 0, error: 0, kind: 0, nbytes: 0, flags: 0 }; subs.len()];
    let mut n = 0usize;
    let errno = unsafe {
        abi::poll_oneoff(subs.as_ptr() as i32, events.as_mut_ptr() as i32, subs.len() as i32, &mut n as *mut usize as i32)
    };
    if errno != 0 { return Err(io::Error::from_raw_os_error(errno)); }
    Ok(events[..n].iter().map(|e| {
        let error = if e.error > 0 { Some(io::Error::from_raw_os_error(e.error as i32)) } else { None };
        (e.userdata as usize, error)
    }).collect())
}

/// A client: its stream and the bytes read but not yet echoed.
struct Conn {
    stream: TcpStream,
    pending: Vec<u8>,
}

const MAX_CONNS: usize = 1024;
const ACCEPTS_PER_WAKEUP: usize = 64;
const READ_BYTES: usize = 16384;

struct Server {
    listener: TcpListener,
    conns: Vec<Conn>,
    accepted: u64,
    closed: u64,
    echoed: u64,
}

impl Server {
    /// Accepts what is waiting (the listener is non-blocking), one line per connection.
    fn accept_all(&mut self) -> io::Result<()> {
        for _ in 0..ACCEPTS_PER_WAKEUP {
            let (stream, peer) = match self.listener.accept(true) {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            };
            self.accepted += 1;
            let local = stream.s.address(false)?;
            println!("conn {} from {} to {}", self.accepted, peer, local);
            if self.conns.len() < MAX_CONNS {
                self.conns.push(Conn { stream, pending: Vec::new() });
            } else {
                self.closed += 1; // dropped: shut down and closed at once
            }
        }
        Ok(())
    }

    /// Reads what is there and echoes as much as the socket takes. False once the client is gone.
    fn serve(&mut self, i: usize) -> bool {
        let conn = &mut self.conns[i];
        if conn.pending.is_empty() {
            let mut buf = [0u8; READ_BYTES];
            match conn.stream.read(&mut buf) {
                Ok(0) => return false,
                Ok(n) => conn.pending.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(_) => return false,
            }
        }
        while !conn.pending.is_empty() {
            match conn.stream.write(&conn.pending) {
                Ok(n) => {
                    conn.pending.drain(..n);
                    self.echoed += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(_) => return false,
            }
        }
        true
    }

    /// One round: wait for the listener or a client, then serve whoever is ready.
    fn round(&mut self) -> io::Result<()> {
        let mut fds = vec![(self.listener.s.fd, Interest::Read)];
        for c in &self.conns {
            fds.push((c.stream.s.fd, if c.pending.is_empty() { Interest::Read } else { Interest::Write }));
        }
        let mut listener_ready = false;
        let mut gone = Vec::new();
        for (index, error) in poll(&fds)? {
            if index == 0 {
                if let Some(e) = error { return Err(e); }
                listener_ready = true;
            } else if error.is_some() || !self.serve(index - 1) {
                gone.push(index - 1);
            }
        }
        gone.sort_unstable();
        gone.dedup();
        for i in gone.into_iter().rev() {
            self.conns.remove(i); // dropped: shut down and closed
            self.closed += 1;
        }
        if listener_ready { self.accept_all()?; }
        Ok(())
    }
}

fn main() {
    abi::keep_unused_imports();
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = args.get(1).map(|p| p.parse().expect("PORT must be a number")).unwrap_or(8080);
    let limit: Option<u64> = args.get(2).map(|n| n.parse().expect("CONNECTIONS must be a number"));
    let listener = match TcpListener::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port), true) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("rust_echo_server: cannot listen on port {}: {}", port, e);
            std::process::exit(1);
        }
    };
    let option = |name| listener.s.option(name).map(|v| v.to_string()).unwrap_or_else(|e| format!("error {}", e));
    println!(
        "rust echo server listening on {} (SO_REUSEADDR {}, SO_ACCEPTCONN {}, SO_TYPE {})",
        listener.s.address(false).map(|a| a.to_string()).unwrap_or_else(|e| format!("error {}", e)),
        option(SO_REUSEADDR), option(SO_ACCEPTCONN), option(SO_TYPE),
    );
    let mut server = Server { listener, conns: Vec::new(), accepted: 0, closed: 0, echoed: 0 };
    while limit.map_or(true, |l| server.closed < l) {
        if let Err(e) = server.round() {
            // ENETDOWN: the machine is stopping (Ctrl-C); anything else is a failure.
            if e.raw_os_error() == Some(ERRNO_NETDOWN) { break; }
            eprintln!("rust_echo_server: {}", e);
            std::process::exit(1);
        }
    }
    println!("served {} connections, echoed {} bytes", server.accepted, server.echoed);
}
