// ByteSink: accept, answer the handshake with fixed bytes, discard the rest; see sink.h.
#include "sink.h"

#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <vector>

#include "sha1.h"
#include "ws_frame.h"

namespace wisp_bench {
namespace {
struct SinkConn {
  std::string http;  // WebSocket: request header being read
  bool upgraded = false;
  bool connacked = false;
};

void send_all(int fd, const void* data, std::size_t n) {
  // Handshake replies are tiny; a full send buffer here means the peer is broken.
  const auto* p = static_cast<const std::uint8_t*>(data);
  while (n > 0) {
    const ssize_t k = ::send(fd, p, n, MSG_NOSIGNAL);
    if (k <= 0) return;
    p += k;
    n -= static_cast<std::size_t>(k);
  }
}
}  // namespace

ByteSink::~ByteSink() { stop(); }

std::uint16_t ByteSink::start(Transport transport, protocol::ProtocolVersion version,
                              std::string& error) {
  transport_ = transport;
  version_ = version;
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(listen_fd_, 1024) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    error = std::string("sink listen: ") + std::strerror(errno);
    return 0;
  }
  ep_ = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listen_fd_;
  ::epoll_ctl(ep_, EPOLL_CTL_ADD, listen_fd_, &ev);
  thread_ = std::thread([this] { loop(); });
  return ntohs(a.sin_port);
}

void ByteSink::stop() {
  if (thread_.joinable()) {
    stop_ = true;
    thread_.join();
  }
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (ep_ >= 0) ::close(ep_);
  listen_fd_ = ep_ = -1;
}

void ByteSink::loop() {
  std::map<int, SinkConn> conns;
  std::vector<std::uint8_t> buf(256 * 1024);
  epoll_event evs[256];
  const bool v5 = version_ == protocol::ProtocolVersion::v5;
  const std::vector<std::uint8_t> connack =
      v5 ? std::vector<std::uint8_t>{0x20, 0x03, 0x00, 0x00, 0x00}
         : std::vector<std::uint8_t>{0x20, 0x02, 0x00, 0x00};
  while (!stop_) {
    const int n = ::epoll_wait(ep_, evs, 256, 10);
    for (int i = 0; i < n; ++i) {
      const int fd = evs[i].data.fd;
      if (fd == listen_fd_) {
        for (;;) {
          const int c = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;
          epoll_event ev{};
          ev.events = EPOLLIN;
          ev.data.fd = c;
          ::epoll_ctl(ep_, EPOLL_CTL_ADD, c, &ev);
          conns[c] = SinkConn{};
        }
        continue;
      }
      SinkConn& sc = conns[fd];
      const ssize_t k = ::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
      if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR)) {
        ::close(fd);
        conns.erase(fd);
        continue;
      }
      if (k < 0) continue;
      bytes_ += static_cast<std::uint64_t>(k);
      std::size_t used = 0;
      if (transport_ == Transport::ws && !sc.upgraded) {
        sc.http.append(reinterpret_cast<const char*>(buf.data()), static_cast<std::size_t>(k));
        const std::size_t end = sc.http.find("\r\n\r\n");
        if (end == std::string::npos) continue;
        std::string key;
        const std::size_t kp = sc.http.find("Sec-WebSocket-Key:");
        if (kp != std::string::npos) {
          std::size_t b = kp + 18;
          while (b < sc.http.size() && sc.http[b] == ' ') ++b;
          key = sc.http.substr(b, sc.http.find("\r\n", b) - b);
        }
        const std::string resp =
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Accept: " +
            websocket_accept(key) + "\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n";
        send_all(fd, resp.data(), resp.size());
        sc.upgraded = true;
        used = static_cast<std::size_t>(k) - (sc.http.size() - (end + 4));
        sc.http.clear();
      }
      if (!sc.connacked && used < static_cast<std::size_t>(k)) {
        // First MQTT bytes are the CONNECT: answer it; everything later is discarded.
        sc.connacked = true;
        if (transport_ == Transport::ws) {
          std::vector<std::uint8_t> frame;
          ws_append_frame(frame, WsOpcode::binary, true, connack, std::nullopt);
          send_all(fd, frame.data(), frame.size());
        } else {
          send_all(fd, connack.data(), connack.size());
        }
      }
    }
  }
  for (auto& [fd, c] : conns) ::close(fd);
}

}  // namespace wisp_bench
