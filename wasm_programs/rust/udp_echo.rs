// rust_udp_echo: a UDP echo server that resolves a name and uses datagrams exactly the way a
// program built on the `wasmedge_wasi_socket` crate does, to show that the crate's UDP and
// name-lookup calling conventions work under RepliCode. Usage: rust_udp_echo [PORT [COUNT]]
// (UDP port 9000 by default; with COUNT it exits after that many datagrams). First it resolves
// the name in $LOOKUP (default "localhost") and prints `lookup NAME: a.b.c.d:port ...`.
//
// Written from the crate's own code, repository second-state/wasmedge_wasi_socket:
// src/socket.rs at commit 0d413b2b08fdf5cacf7f7b1d656d34f99538238a (the import declarations,
// Socket::new/bind/recv_from/send_to, WasiAddrinfo::get_addrinfo and its record types) and
// src/lib.rs as stored at commit 7e49c11063b0bee93f48a294122565dd2c9c8349 (UdpSocket, nslookup,
// ToSocketAddrs). Same import names and Rust types, so the same wasm signatures, and the same
// arguments:
// - UdpSocket::bind: sock_open(INET4 1, DATAGRAM 1), then sock_bind with a 4-byte address (in a
//   16-byte array) and the port as a plain u32; no socket options;
// - recv_from: the 8-argument sock_recv_from (WasmEdge's V2), a 128-byte address buffer read as
//   family u16 LE @0 and IPv4 @2..5, the port from a u32 out-slot truncated to u16, usize
//   out-slots for the length and roflags, flags 0;
// - send_to: sock_send_to with one iovec, a 4-byte address, the port as a u32, flags 0;
// - the lookup (nslookup, without the crate's default `built-in-dns` feature, which asks 8.8.8.8
//   over TCP instead): node and service with a NUL appended and counted in their lengths, the
//   service "http" (ToSocketAddrs then overwrites the port), hints = WasiAddrinfo::default()
//   (flags AiPassive = 0, family INET4, socktype STREAM, protocol TCP), 10 records chained
//   through ai_next, each with a 12-byte sockaddr whose sa_data_len says 14 over a 26-byte
//   buffer and a canonname of length 0; results with ai_addrlen 0 are skipped, the family is read
//   from the sockaddr, the port big-endian from sa_data[0..2] and the IPv4 address from [2..6];
// - a failed call is `io::Error::from_raw_os_error(errno)`: the EAI_* code itself (84 NONAME);
// - the socket is shut down (both ways, result ignored) then closed when dropped.
// No crate code is copied: only the ABI is the same. Built with rustc's std only.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};

/// The wasm imports and records, declared as the crate declares them.
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

    /// The crate's enums, with its discriminants (stored as u8, AiFlags as u16).
    #[derive(Clone, Copy)]
    #[repr(u8)]
    pub enum AddressFamily { _Unspec, Inet4, _Inet6 }
    #[derive(Clone, Copy)]
    #[repr(u8)]
    pub enum SocketType { _Any, Datagram, Stream }
    /// A plain enum, not bits: the crate's default AiPassive is 0, i.e. no flags at all.
    #[derive(Clone, Copy)]
    #[repr(u16)]
    pub enum AiFlags { AiPassive }
    #[derive(Clone, Copy)]
    #[repr(u8)]
    pub enum AiProtocol { _IPProtoIP, IPProtoTCP }

    /// The crate's WasiSockaddr (its family field is the u8 enum; a u8 here, so any byte reads safely).
    #[derive(Clone)]
    #[repr(C)]
    pub struct WasiSockaddr {
        pub family: u8,
        pub sa_data_len: u32,
        pub sa_data: *mut u8,
    }

    /// The crate's WasiAddrinfo: repr(C, packed(4)), 28 bytes.
    #[derive(Clone)]
    #[repr(C, packed(4))]
    pub struct WasiAddrinfo {
        pub ai_flags: u16,
        pub ai_family: u8,
        pub ai_socktype: u8,
        pub ai_protocol: u8,
        pub ai_addrlen: u32,
        pub ai_addr: *mut WasiSockaddr,
        pub ai_canonname: *mut u8,
        pub ai_canonnamelen: u32,
        pub ai_next: *mut WasiAddrinfo,
    }

    const _: () = assert!(std::mem::size_of::<WasiAddrinfo>() == 28 && std::mem::size_of::<WasiSockaddr>() == 12);

    #[link(wasm_import_module = "wasi_snapshot_preview1")]
    extern "C" {
        pub fn sock_open(addr_family: u8, sock_type: u8, fd: *mut u32) -> u32;
        pub fn sock_bind(fd: u32, addr: *mut WasiAddress, port: u32) -> u32;
        pub fn sock_recv_from(fd: u32, buf: *mut IovecRead, buf_len: u32, addr: *mut u8, flags: u16, port: *mut u32, recv_len: *mut usize, oflags: *mut usize) -> u32;
        pub fn sock_send_to(fd: u32, buf: *const IovecWrite, buf_len: u32, addr: *const u8, port: u32, flags: u16, send_len: *mut u32) -> u32;
        pub fn sock_shutdown(fd: u32, flags: u8) -> u32;
        pub fn sock_getaddrinfo(node: *const u8, node_len: u32, server: *const u8, server_len: u32, hint: *const WasiAddrinfo, res: *mut u32, max_len: u32, res_len: *mut u32) -> u32;
    }

    // wasi-libc (linked by Rust's std), as the crate reaches it through the libc crate.
    extern "C" {
        pub fn close(fd: i32) -> i32;
    }
}

use abi::{AddressFamily, AiFlags, AiProtocol, SocketType, WasiAddrinfo, WasiSockaddr};

const SHUTDOWN_BOTH: u8 = 3;
const ERRNO_NETDOWN: i32 = 38;
/// How many records the crate's lookup offers the host.
const LOOKUP_MAX_RESULTS: usize = 10;
const DATAGRAM_BYTES: usize = 2048;

fn check(errno: u32) -> io::Result<()> {
    if errno == 0 { Ok(()) } else { Err(io::Error::from_raw_os_error(errno as i32)) }
}

/// WasiAddrinfo::default() in the crate: the lookup's hints, and every record before the call.
fn crate_default_addrinfo() -> WasiAddrinfo {
    WasiAddrinfo {
        ai_flags: AiFlags::AiPassive as u16,
        ai_family: AddressFamily::Inet4 as u8,
        ai_socktype: SocketType::Stream as u8,
        ai_protocol: AiProtocol::IPProtoTCP as u8,
        ai_addrlen: 0,
        ai_addr: std::ptr::null_mut(),
        ai_canonname: std::ptr::null_mut(),
        ai_canonnamelen: 0,
        ai_next: std::ptr::null_mut(),
    }
}

/// Resolves `node` as the crate's nslookup(node, service) does; IPv4 results only, as there.
fn lookup(node: &str, service: &str) -> io::Result<Vec<SocketAddrV4>> {
    let hints = crate_default_addrinfo();
    let mut node = node.to_string();
    let mut service = service.to_string();
    if !node.ends_with('\0') { node.push('\0'); }
    if !service.ends_with('\0') { service.push('\0'); }
    let mut data = vec![[0u8; 26]; LOOKUP_MAX_RESULTS];
    // Filled like the crate's: `resize` clones an empty String, and a clone keeps no capacity,
    // so every record but the last points at no memory; all say length 0.
    let mut canonnames: Vec<String> = Vec::new();
    canonnames.resize(LOOKUP_MAX_RESULTS, String::with_capacity(30));
    let default_sockaddr = WasiSockaddr { family: AddressFamily::Inet4 as u8, sa_data_len: 14, sa_data: std::ptr::null_mut() };
    let mut sockaddrs = vec![default_sockaddr; LOOKUP_MAX_RESULTS];
    let mut records = vec![crate_default_addrinfo(); LOOKUP_MAX_RESULTS];
    for i in 0..LOOKUP_MAX_RESULTS {
        sockaddrs[i].sa_data = data[i].as_mut_ptr();
        records[i].ai_addr = &mut sockaddrs[i];
        records[i].ai_canonname = canonnames[i].as_mut_ptr();
        if i > 0 { records[i - 1].ai_next = &mut records[i]; }
    }
    let mut first = records.as_mut_ptr() as u32;
    let mut count = 0u32;
    check(unsafe {
        abi::sock_getaddrinfo(node.as_ptr(), node.len() as u32, service.as_ptr(), service.len() as u32, &hints, &mut first, LOOKUP_MAX_RESULTS as u32, &mut count)
    })?;
    let mut found = Vec::new();
    for i in 0..(count as usize).min(LOOKUP_MAX_RESULTS) {
        let addrlen = records[i].ai_addrlen;
        if addrlen == 0 || sockaddrs[i].family != AddressFamily::Inet4 as u8 { continue; }
        let d = &data[i];
        found.push(SocketAddrV4::new(Ipv4Addr::new(d[2], d[3], d[4], d[5]), u16::from_be_bytes([d[0], d[1]])));
    }
    Ok(found)
}

/// A UDP socket: shut down and closed on drop, as the crate's Socket is.
struct UdpSocket {
    fd: i32,
}

impl UdpSocket {
    /// The crate's UdpSocket::bind for one IPv4 address: open, bind; no options.
    fn bind(addr: SocketAddrV4) -> io::Result<UdpSocket> {
        let mut fd = 0u32;
        check(unsafe { abi::sock_open(AddressFamily::Inet4 as u8, SocketType::Datagram as u8, &mut fd) })?;
        let s = UdpSocket { fd: fd as i32 };
        let mut ip = [0u8; 16];
        ip[..4].copy_from_slice(&addr.ip().octets());
        let mut wasi = abi::WasiAddress { buf: ip.as_ptr(), size: 4 };
        check(unsafe { abi::sock_bind(s.fd as u32, &mut wasi, addr.port() as u32) })?;
        Ok(s)
    }

    /// One datagram and its sender, through the V2 sock_recv_from.
    fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddrV4)> {
        // Mutable (the crate's is not): the host writes it through the pointer.
        let mut storage = [0u8; 128];
        let mut addr = abi::WasiAddress { buf: storage.as_mut_ptr(), size: storage.len() };
        let mut iov = abi::IovecRead { buf: buf.as_mut_ptr(), size: buf.len() };
        let (mut port, mut len, mut oflags) = (0u32, 0usize, 0usize);
        check(unsafe {
            abi::sock_recv_from(self.fd as u32, &mut iov, 1, &mut addr as *mut abi::WasiAddress as *mut u8, 0, &mut port, &mut len, &mut oflags)
        })?;
        // Where the crate would panic (unimplemented!) on another family, this says so.
        let family = u16::from_le_bytes([storage[0], storage[1]]) as u8;
        if family != AddressFamily::Inet4 as u8 {
            return Err(io::Error::new(io::ErrorKind::Unsupported, format!("sender address family {}", family)));
        }
        let ip = Ipv4Addr::new(storage[2], storage[3], storage[4], storage[5]);
        Ok((len, SocketAddrV4::new(ip, port as u16)))
    }

    fn send_to(&self, buf: &[u8], to: SocketAddrV4) -> io::Result<usize> {
        let octets = to.ip().octets();
        let addr = abi::WasiAddress { buf: octets.as_ptr(), size: octets.len() };
        let iov = abi::IovecWrite { buf: buf.as_ptr(), size: buf.len() };
        let mut sent = 0u32;
        check(unsafe {
            abi::sock_send_to(self.fd as u32, &iov, 1, &addr as *const abi::WasiAddress as *const u8, to.port() as u32, 0, &mut sent)
        })?;
        Ok(sent as usize)
    }
}

impl Drop for UdpSocket {
    fn drop(&mut self) {
        // Unconnected, so the shutdown fails (ENOTCONN); the crate ignores that too.
        unsafe {
            abi::sock_shutdown(self.fd as u32, SHUTDOWN_BOTH);
            abi::close(self.fd);
        }
    }
}

fn fail(what: &str, e: io::Error) -> ! {
    eprintln!("rust_udp_echo: {}: {}", what, e);
    std::process::exit(1);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = args.get(1).map(|p| p.parse().expect("PORT must be a number")).unwrap_or(9000);
    let limit: Option<u64> = args.get(2).map(|n| n.parse().expect("COUNT must be a number"));

    let name = std::env::var("LOOKUP").unwrap_or_else(|_| "localhost".to_string());
    match lookup(&name, "http") {
        Ok(found) => {
            let listed: Vec<String> = found.iter().map(|a| a.to_string()).collect();
            println!("lookup {}: {}", name, listed.join(" "));
        }
        Err(e) => {
            // The EAI_* code itself, as the crate's io::Error carries it (84: EAI_NONAME).
            println!("lookup {}: error {}", name, e.raw_os_error().map_or_else(|| e.to_string(), |c| c.to_string()));
            std::process::exit(1);
        }
    }

    let socket = UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port)).unwrap_or_else(|e| fail("bind", e));
    println!("rust udp echo on 0.0.0.0:{}", port);
    let mut buf = [0u8; DATAGRAM_BYTES];
    let mut n = 0u64;
    while limit.map_or(true, |l| n < l) {
        let (len, from) = match socket.recv_from(&mut buf) {
            Ok(got) => got,
            // ENETDOWN: the machine is stopping (Ctrl-C); anything else is a failure.
            Err(e) if e.raw_os_error() == Some(ERRNO_NETDOWN) => break,
            Err(e) => fail("recv_from", e),
        };
        n += 1;
        println!("datagram {}: {} bytes from {}", n, len, from);
        let mut reply = b"echo ".to_vec();
        reply.extend_from_slice(&buf[..len]);
        socket.send_to(&reply, from).unwrap_or_else(|e| fail("send_to", e));
    }
}
