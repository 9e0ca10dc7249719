// Raw TCP and minimal WebSocket clients for integration tests (see raw_client.h).
#include "raw_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <utility>

namespace wisp_test {

namespace {

using Clock = std::chrono::steady_clock;

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

bool wait_fd(int fd, short events, Clock::time_point deadline) {
  pollfd p{fd, events, 0};
  for (;;) {
    const int r = ::poll(&p, 1, remaining_ms(deadline));
    if (r > 0) return true;
    if (r == 0) return false;
    if (errno != EINTR) return false;
  }
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Parses "HTTP/1.1 101 ...\r\nName: value\r\n...\r\n\r\n" from the front of buf.
bool parse_http_head(const Bytes& buf, int& status, std::map<std::string, std::string>& headers,
                     std::size_t& head_len) {
  const std::string s(buf.begin(), buf.end());
  const auto end = s.find("\r\n\r\n");
  if (end == std::string::npos) return false;
  head_len = end + 4;
  std::size_t pos = s.find("\r\n");
  const std::string status_line = s.substr(0, pos);
  const auto sp = status_line.find(' ');
  status = sp == std::string::npos ? 0 : std::atoi(status_line.c_str() + sp + 1);
  while (pos < end) {
    const std::size_t next = s.find("\r\n", pos + 2);
    const std::string line = s.substr(pos + 2, next - pos - 2);
    const auto colon = line.find(':');
    if (colon != std::string::npos) {
      std::string v = line.substr(colon + 1);
      while (!v.empty() && v.front() == ' ') v.erase(v.begin());
      headers[lower(line.substr(0, colon))] = v;
    }
    pos = next;
  }
  return true;
}

}  // namespace

Bytes bytes_of(std::string_view s) { return Bytes(s.begin(), s.end()); }

TcpClient& TcpClient::operator=(TcpClient&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = o.fd_;
    pending = std::move(o.pending);
    o.fd_ = -1;
  }
  return *this;
}

TcpClient::~TcpClient() { close(); }

void TcpClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void TcpClient::reset() {
  if (fd_ < 0) return;
  linger l{1, 0};
  setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close();
}

std::optional<TcpClient> TcpClient::connect(std::uint16_t port, Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;
  TcpClient c(fd);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    if (errno != EINPROGRESS) return std::nullopt;
    if (!wait_fd(fd, POLLOUT, deadline)) return std::nullopt;
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return std::nullopt;
  }
  return c;
}

bool TcpClient::send_all(std::span<const std::uint8_t> data, Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  std::size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!wait_fd(fd_, POLLOUT, deadline)) return false;
      continue;
    }
    return false;
  }
  return true;
}

std::optional<Bytes> TcpClient::read_some(Millis timeout) {
  if (!pending.empty()) return std::exchange(pending, {});
  const auto deadline = Clock::now() + timeout;
  std::uint8_t buf[65536];
  for (;;) {
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n > 0) return Bytes(buf, buf + n);
    if (n == 0) return Bytes{};
    if (errno == EAGAIN || errno == EINTR) {
      if (!wait_fd(fd_, POLLIN, deadline)) return std::nullopt;
      continue;
    }
    return Bytes{};  // reset counts as closed
  }
}

bool TcpClient::read_exact(std::size_t n, Bytes& out, Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  while (n > 0) {
    if (!pending.empty()) {
      const std::size_t take = std::min(n, pending.size());
      out.insert(out.end(), pending.begin(), pending.begin() + static_cast<long>(take));
      pending.erase(pending.begin(), pending.begin() + static_cast<long>(take));
      n -= take;
      continue;
    }
    auto chunk =
        read_some(std::max(Millis(0), std::chrono::duration_cast<Millis>(deadline - Clock::now())));
    if (!chunk || chunk->empty()) return false;
    pending = std::move(*chunk);
  }
  return true;
}

bool TcpClient::wait_closed(Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  pending.clear();
  for (;;) {
    auto chunk =
        read_some(std::max(Millis(0), std::chrono::duration_cast<Millis>(deadline - Clock::now())));
    if (!chunk) return false;  // timeout
    if (chunk->empty()) return true;
  }
}

std::optional<HttpResponse> http_get(std::uint16_t port, const std::string& path, Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  auto c = TcpClient::connect(port, timeout);
  if (!c) return std::nullopt;
  const std::string req =
      "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (!c->send_all(req)) return std::nullopt;
  Bytes buf;
  HttpResponse r;
  std::size_t head_len = 0;
  bool have_head = false;
  for (;;) {
    auto chunk = c->read_some(
        std::max(Millis(0), std::chrono::duration_cast<Millis>(deadline - Clock::now())));
    if (!chunk) return std::nullopt;
    if (chunk->empty()) break;
    buf.insert(buf.end(), chunk->begin(), chunk->end());
    if (!have_head) have_head = parse_http_head(buf, r.status, r.headers, head_len);
    if (have_head && r.headers.count("content-length") &&
        buf.size() - head_len >= std::stoul(r.headers["content-length"])) {
      break;
    }
  }
  if (!have_head && !parse_http_head(buf, r.status, r.headers, head_len)) return std::nullopt;
  r.body.assign(buf.begin() + static_cast<long>(head_len), buf.end());
  return r;
}

WsClient WsClient::connect(std::uint16_t port, const Options& opts, Millis timeout) {
  WsClient ws;
  const auto deadline = Clock::now() + timeout;
  auto c = TcpClient::connect(port, timeout);
  if (!c) return ws;
  std::string req = "GET " + opts.path +
                    " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    "Sec-WebSocket-Version: 13\r\n";
  if (opts.protocols) req += "Sec-WebSocket-Protocol: " + *opts.protocols + "\r\n";
  if (opts.origin) req += "Origin: " + *opts.origin + "\r\n";
  req += opts.extra_headers;
  req += "\r\n";
  if (!c->send_all(req)) return ws;
  Bytes buf;
  std::size_t head_len = 0;
  for (;;) {
    auto chunk = c->read_some(
        std::max(Millis(0), std::chrono::duration_cast<Millis>(deadline - Clock::now())));
    if (!chunk || chunk->empty()) {
      if (!buf.empty()) parse_http_head(buf, ws.status, ws.headers, head_len);
      return ws;
    }
    buf.insert(buf.end(), chunk->begin(), chunk->end());
    if (parse_http_head(buf, ws.status, ws.headers, head_len)) break;
  }
  c->pending.assign(buf.begin() + static_cast<long>(head_len), buf.end());
  ws.tcp = std::move(*c);
  return ws;
}

bool WsClient::send_frame(std::uint8_t opcode, std::span<const std::uint8_t> payload, bool fin) {
  Bytes f;
  f.reserve(payload.size() + 14);
  f.push_back(static_cast<std::uint8_t>((fin ? 0x80 : 0) | opcode));
  const std::size_t n = payload.size();
  if (n < 126) {
    f.push_back(static_cast<std::uint8_t>(0x80 | n));
  } else if (n <= 0xffff) {
    f.push_back(0x80 | 126);
    f.push_back(static_cast<std::uint8_t>(n >> 8));
    f.push_back(static_cast<std::uint8_t>(n));
  } else {
    f.push_back(0x80 | 127);
    for (int i = 7; i >= 0; --i) f.push_back(static_cast<std::uint8_t>(n >> (8 * i)));
  }
  const std::uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
  f.insert(f.end(), mask, mask + 4);
  for (std::size_t i = 0; i < n; ++i) f.push_back(payload[i] ^ mask[i % 4]);
  return tcp.send_all(f);
}

std::optional<WsFrame> WsClient::read_frame(Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  auto left = [&] {
    return std::max(Millis(0), std::chrono::duration_cast<Millis>(deadline - Clock::now()));
  };
  Bytes h;
  if (!tcp.read_exact(2, h, left())) return std::nullopt;
  WsFrame f;
  f.fin = (h[0] & 0x80) != 0;
  f.opcode = h[0] & 0x0f;
  const bool masked = (h[1] & 0x80) != 0;
  std::uint64_t len = h[1] & 0x7f;
  if (len == 126 || len == 127) {
    Bytes ext;
    const std::size_t k = len == 126 ? 2 : 8;
    if (!tcp.read_exact(k, ext, left())) return std::nullopt;
    len = 0;
    for (auto b : ext) len = len << 8 | b;
  }
  Bytes mask;
  if (masked && !tcp.read_exact(4, mask, left())) return std::nullopt;
  if (!tcp.read_exact(static_cast<std::size_t>(len), f.payload, left())) return std::nullopt;
  if (masked) {
    for (std::size_t i = 0; i < f.payload.size(); ++i) f.payload[i] ^= mask[i % 4];
  }
  return f;
}

bool WsClient::read_binary(std::size_t n, Bytes& out, Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  const std::size_t target = out.size() + n;
  while (out.size() < target) {
    auto f = read_frame(
        std::max(Millis(0), std::chrono::duration_cast<Millis>(deadline - Clock::now())));
    if (!f) return false;
    if (f->opcode == 9) {
      send_frame(10, f->payload);
      continue;
    }
    if (f->opcode == 8) return false;
    if (f->opcode != 2 && f->opcode != 0) return false;
    out.insert(out.end(), f->payload.begin(), f->payload.end());
  }
  return out.size() == target;
}

std::optional<std::uint16_t> WsClient::read_close(Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    auto f = read_frame(
        std::max(Millis(0), std::chrono::duration_cast<Millis>(deadline - Clock::now())));
    if (!f) return std::nullopt;
    if (f->opcode == 8) return f->close_code();
  }
}

std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (fd >= 0) ::close(fd);
    return 0;
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

}  // namespace wisp_test
