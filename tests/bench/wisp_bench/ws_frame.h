// RFC 6455 client side: opening handshake (request + response check), frame encoding with
// masking, and an incremental frame decoder that streams data payloads and collects control
// frames. Pure code, no I/O.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace wisp_bench {

using ByteSpan = std::span<const std::uint8_t>;

enum class WsOpcode : std::uint8_t {
  continuation = 0x0,
  text = 0x1,
  binary = 0x2,
  close = 0x8,
  ping = 0x9,
  pong = 0xA,
};

using WsMaskKey = std::array<std::uint8_t, 4>;

// XORs `data` with the masking key, starting at position `offset` of the frame payload
// (RFC 6455 section 5.3). Applying it twice restores the input.
void ws_mask(std::uint8_t* data, std::size_t n, const WsMaskKey& key, std::size_t offset = 0);

// Size of a frame header for a payload of `len` bytes (2, 4 or 10 bytes, +4 when masked).
std::size_t ws_header_size(std::uint64_t len, bool masked);

// Appends a frame header. Length uses the shortest form: 7-bit (< 126), 16-bit (< 65536),
// else 64-bit [RFC 6455 5.2].
void ws_append_header(std::vector<std::uint8_t>& out, WsOpcode op, bool fin, std::uint64_t len,
                      const std::optional<WsMaskKey>& mask);

// Appends a whole frame; with a mask (client -> server) the payload is masked on the copy.
void ws_append_frame(std::vector<std::uint8_t>& out, WsOpcode op, bool fin, ByteSpan payload,
                     const std::optional<WsMaskKey>& mask);

enum class WsError : std::uint8_t {
  none,
  masked_server_frame,    // a client must fail on masked frames from the server [5.1]
  unmasked_client_frame,  // (decoder in server mode) client frames must be masked
  reserved_bits,          // RSV1-3 set without a negotiated extension
  unknown_opcode,
  text_frame,               // MQTT over WebSocket is binary only
  control_too_long,         // control payload > 125 [5.5]
  control_fragmented,       // control frame without FIN [5.5]
  unexpected_continuation,  // continuation with no message in progress
  expected_continuation,    // new data frame while a fragmented message is open
  frame_too_long,           // 64-bit length with the top bit set
};
const char* to_string(WsError e) noexcept;

// Receives decoded frame content. Data payload pieces arrive in order, possibly split at any
// byte: the WebSocket stream is treated as a byte stream (MQTT packets may span frames and a
// frame may hold several packets). Control frames arrive whole.
class WsHandler {
 public:
  virtual ~WsHandler() = default;
  virtual void on_ws_data(ByteSpan bytes) = 0;
  virtual void on_ws_control(WsOpcode op, ByteSpan payload) = 0;
};

// Incremental decoder. Client mode (default) rejects masked frames; server mode (used by the
// test sink and unit tests) requires and removes masks. Data views passed to the handler
// point into `in` (unmasked frames) or into an internal scratch buffer; valid only during the
// callback. After an error the decoder stays failed.
class WsFrameDecoder {
 public:
  explicit WsFrameDecoder(bool server_mode = false) noexcept : server_mode_(server_mode) {}
  WsError feed(ByteSpan in, WsHandler& handler);
  bool in_fragmented_message() const noexcept { return in_message_; }

 private:
  bool server_mode_;
  WsError error_ = WsError::none;
  std::uint8_t header_[14] = {};
  std::size_t header_len_ = 0;
  bool header_done_ = false;
  WsOpcode opcode_ = WsOpcode::binary;
  bool fin_ = false;
  bool masked_ = false;
  WsMaskKey mask_{};
  std::uint64_t payload_len_ = 0;
  std::uint64_t payload_done_ = 0;
  bool in_message_ = false;
  std::vector<std::uint8_t> control_;
  std::vector<std::uint8_t> scratch_;
};

// ---- Opening handshake [RFC 6455 4.1] ---------------------------------------------------
std::string ws_handshake_request(std::string_view host, std::uint16_t port, std::string_view path,
                                 std::string_view key, std::string_view subprotocol);

struct WsHandshakeResult {
  enum class State { need_more, ok, error } state = State::need_more;
  std::size_t header_bytes = 0;  // bytes of `response` used by the HTTP response (state ok)
  std::string error;
};

// Checks a server response: status 101, Upgrade: websocket, Connection: upgrade,
// Sec-WebSocket-Accept == websocket_accept(key), and the subprotocol (if one was requested
// and the server names one, it must match; a server naming none is an error too).
WsHandshakeResult ws_check_handshake_response(std::string_view response, std::string_view key,
                                              std::string_view subprotocol);

// A fresh random 16-byte key, base64 encoded.
std::string ws_random_key();

}  // namespace wisp_bench
