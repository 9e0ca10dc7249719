// Raw sockets for integration tests: a TCP client that sends exact bytes, and a minimal
// RFC 6455 WebSocket client (masked frames, any opcode, fragments) on top of it. Every call
// is bounded by a timeout; nothing here sleeps.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace wisp_test {

using Bytes = std::vector<std::uint8_t>;
using namespace std::chrono_literals;
using Millis = std::chrono::milliseconds;

Bytes bytes_of(std::string_view s);
// A string literal's bytes, embedded NULs included.
template <std::size_t N>
Bytes lit(const char (&s)[N]) {
  return Bytes(s, s + N - 1);
}

class TcpClient {
 public:
  TcpClient() = default;
  explicit TcpClient(int fd) : fd_(fd) {}
  TcpClient(TcpClient&& o) noexcept : pending(std::move(o.pending)), fd_(o.fd_) { o.fd_ = -1; }
  TcpClient& operator=(TcpClient&& o) noexcept;
  ~TcpClient();

  static std::optional<TcpClient> connect(std::uint16_t port, Millis timeout = 5000ms);
  bool valid() const { return fd_ >= 0; }
  int fd() const { return fd_; }

  // Sends everything (blocking with timeout); false on error/timeout.
  bool send_all(std::span<const std::uint8_t> data, Millis timeout = 5000ms);
  bool send_all(std::string_view s, Millis timeout = 5000ms) {
    return send_all(std::span(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()), timeout);
  }
  // Reads exactly n bytes into out (appends); false on EOF, error or timeout.
  bool read_exact(std::size_t n, Bytes& out, Millis timeout = 5000ms);
  // Reads whatever is available (waits up to timeout for the first byte). Empty on EOF.
  std::optional<Bytes> read_some(Millis timeout = 5000ms);
  // True when the peer closed (EOF or reset) within the timeout; data read is discarded.
  bool wait_closed(Millis timeout = 5000ms);
  // Abortive close (RST).
  void reset();
  void close();

  // Bytes read but not yet consumed by a higher layer (the WebSocket client).
  Bytes pending;

 private:
  int fd_ = -1;
};

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

// One HTTP/1.1 GET with Connection: close; nullopt on connection failure/timeout.
std::optional<HttpResponse> http_get(std::uint16_t port, const std::string& path,
                                     Millis timeout = 5000ms);

struct WsFrame {
  bool fin = true;
  std::uint8_t opcode = 0;  // 0 cont, 1 text, 2 binary, 8 close, 9 ping, 10 pong
  Bytes payload;
  std::uint16_t close_code() const {
    return payload.size() >= 2 ? static_cast<std::uint16_t>(payload[0] << 8 | payload[1]) : 0;
  }
};

class WsClient {
 public:
  struct Options {
    std::string path = "/mqtt";
    std::optional<std::string> protocols = std::string("mqtt");  // nullopt: no header
    std::optional<std::string> origin;
    std::string extra_headers;  // raw "Name: value\r\n" lines
  };
  // Performs the upgrade. On a non-101 answer, `status` holds the HTTP status and the
  // client is not usable.
  static WsClient connect(std::uint16_t port, const Options& opts, Millis timeout = 5000ms);
  bool ok() const { return status == 101; }

  bool send_frame(std::uint8_t opcode, std::span<const std::uint8_t> payload, bool fin = true);
  bool send_binary(std::span<const std::uint8_t> payload) { return send_frame(2, payload); }
  std::optional<WsFrame> read_frame(Millis timeout = 5000ms);
  // Reads binary/continuation frames (answering pings) until n payload bytes arrived.
  bool read_binary(std::size_t n, Bytes& out, Millis timeout = 5000ms);
  // Reads until a CLOSE frame; returns its code, or nullopt if the socket ended without one.
  std::optional<std::uint16_t> read_close(Millis timeout = 5000ms);

  int status = 0;
  std::map<std::string, std::string> headers;
  TcpClient tcp;
  Bytes stream;  // payload bytes received but not yet consumed (MQTT packet reader)
};

// A free loopback TCP port (bound to port 0 and released; callers retry on a bind race).
std::uint16_t free_port();

}  // namespace wisp_test
