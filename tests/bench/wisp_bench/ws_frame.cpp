// RFC 6455 client framing and handshake; see ws_frame.h.
#include "ws_frame.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <random>

#include "sha1.h"

namespace wisp_bench {

void ws_mask(std::uint8_t* data, std::size_t n, const WsMaskKey& key, std::size_t offset) {
  std::size_t i = 0;
  // Byte-wise until the key phase is 0, then 8 bytes at a time.
  while (i < n && ((offset + i) & 3) != 0) {
    data[i] ^= key[(offset + i) & 3];
    ++i;
  }
  std::uint8_t k8[8];
  for (int j = 0; j < 8; ++j) k8[j] = key[static_cast<std::size_t>(j) & 3];
  std::uint64_t k64 = 0;
  std::memcpy(&k64, k8, 8);
  for (; i + 8 <= n; i += 8) {
    std::uint64_t v = 0;
    std::memcpy(&v, data + i, 8);
    v ^= k64;
    std::memcpy(data + i, &v, 8);
  }
  for (; i < n; ++i) data[i] ^= key[(offset + i) & 3];
}

std::size_t ws_header_size(std::uint64_t len, bool masked) {
  const std::size_t base = len < 126 ? 2 : len < 65536 ? 4 : 10;
  return base + (masked ? 4 : 0);
}

void ws_append_header(std::vector<std::uint8_t>& out, WsOpcode op, bool fin, std::uint64_t len,
                      const std::optional<WsMaskKey>& mask) {
  out.push_back(static_cast<std::uint8_t>((fin ? 0x80 : 0x00) | static_cast<std::uint8_t>(op)));
  const std::uint8_t m = mask ? 0x80 : 0x00;
  if (len < 126) {
    out.push_back(static_cast<std::uint8_t>(m | len));
  } else if (len < 65536) {
    out.push_back(static_cast<std::uint8_t>(m | 126));
    out.push_back(static_cast<std::uint8_t>(len >> 8));
    out.push_back(static_cast<std::uint8_t>(len));
  } else {
    out.push_back(static_cast<std::uint8_t>(m | 127));
    for (int s = 56; s >= 0; s -= 8) out.push_back(static_cast<std::uint8_t>(len >> s));
  }
  if (mask) out.insert(out.end(), mask->begin(), mask->end());
}

void ws_append_frame(std::vector<std::uint8_t>& out, WsOpcode op, bool fin, ByteSpan payload,
                     const std::optional<WsMaskKey>& mask) {
  ws_append_header(out, op, fin, payload.size(), mask);
  const std::size_t at = out.size();
  out.insert(out.end(), payload.begin(), payload.end());
  if (mask) ws_mask(out.data() + at, payload.size(), *mask, 0);
}

const char* to_string(WsError e) noexcept {
  switch (e) {
    case WsError::none: return "none";
    case WsError::masked_server_frame: return "masked frame from server";
    case WsError::unmasked_client_frame: return "unmasked frame from client";
    case WsError::reserved_bits: return "reserved bits set";
    case WsError::unknown_opcode: return "unknown opcode";
    case WsError::text_frame: return "text frame (MQTT needs binary)";
    case WsError::control_too_long: return "control frame longer than 125 bytes";
    case WsError::control_fragmented: return "fragmented control frame";
    case WsError::unexpected_continuation: return "continuation frame without a message";
    case WsError::expected_continuation: return "data frame inside a fragmented message";
    case WsError::frame_too_long: return "frame length has the top bit set";
  }
  return "?";
}

namespace {
bool is_control(WsOpcode op) { return (static_cast<std::uint8_t>(op) & 0x08) != 0; }

std::size_t header_needed(const std::uint8_t* h, std::size_t have) {
  if (have < 2) return 2;
  const std::uint8_t len7 = h[1] & 0x7F;
  return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((h[1] & 0x80) ? 4 : 0);
}
}  // namespace

WsError WsFrameDecoder::feed(ByteSpan in, WsHandler& handler) {
  if (error_ != WsError::none) return error_;
  std::size_t pos = 0;
  const std::size_t n = in.size();
  auto fail = [this](WsError e) {
    error_ = e;
    return e;
  };
  for (;;) {
    if (!header_done_) {
      while (pos < n && header_len_ < header_needed(header_, header_len_)) {
        header_[header_len_++] = in[pos++];
      }
      if (header_len_ < header_needed(header_, header_len_)) return WsError::none;
      const std::uint8_t b0 = header_[0];
      const std::uint8_t b1 = header_[1];
      if ((b0 & 0x70) != 0) return fail(WsError::reserved_bits);
      fin_ = (b0 & 0x80) != 0;
      masked_ = (b1 & 0x80) != 0;
      if (server_mode_ && !masked_) return fail(WsError::unmasked_client_frame);
      if (!server_mode_ && masked_) return fail(WsError::masked_server_frame);
      const std::uint8_t op = b0 & 0x0F;
      if (op != 0 && op != 1 && op != 2 && op != 8 && op != 9 && op != 10) {
        return fail(WsError::unknown_opcode);
      }
      opcode_ = static_cast<WsOpcode>(op);
      std::size_t at = 2;
      const std::uint8_t len7 = b1 & 0x7F;
      if (len7 < 126) {
        payload_len_ = len7;
      } else if (len7 == 126) {
        payload_len_ = (std::uint64_t{header_[2]} << 8) | header_[3];
        at = 4;
      } else {
        payload_len_ = 0;
        for (int i = 0; i < 8; ++i) payload_len_ = (payload_len_ << 8) | header_[2 + i];
        at = 10;
        if ((payload_len_ >> 63) != 0) return fail(WsError::frame_too_long);
      }
      if (masked_) std::memcpy(mask_.data(), header_ + at, 4);
      if (opcode_ == WsOpcode::text) return fail(WsError::text_frame);
      if (is_control(opcode_)) {
        if (!fin_) return fail(WsError::control_fragmented);
        if (payload_len_ > 125) return fail(WsError::control_too_long);
        control_.clear();
      } else if (opcode_ == WsOpcode::continuation) {
        if (!in_message_) return fail(WsError::unexpected_continuation);
      } else {
        if (in_message_) return fail(WsError::expected_continuation);
        in_message_ = true;
      }
      header_done_ = true;
      payload_done_ = 0;
    }
    const std::uint64_t want = payload_len_ - payload_done_;
    const std::size_t avail = static_cast<std::size_t>(
        std::min<std::uint64_t>(want, static_cast<std::uint64_t>(n - pos)));
    if (avail > 0) {
      const ByteSpan piece = in.subspan(pos, avail);
      if (is_control(opcode_)) {
        const std::size_t at = control_.size();
        control_.insert(control_.end(), piece.begin(), piece.end());
        if (masked_) ws_mask(control_.data() + at, avail, mask_, payload_done_);
      } else if (masked_) {
        scratch_.assign(piece.begin(), piece.end());
        ws_mask(scratch_.data(), avail, mask_, payload_done_);
        handler.on_ws_data(scratch_);
      } else {
        handler.on_ws_data(piece);
      }
      pos += avail;
      payload_done_ += avail;
    }
    if (payload_done_ < payload_len_) return WsError::none;  // input used up mid-frame
    // Frame complete.
    if (is_control(opcode_)) {
      handler.on_ws_control(opcode_, control_);
    } else if (fin_) {
      in_message_ = false;
    }
    header_done_ = false;
    header_len_ = 0;
    if (pos == n) return WsError::none;
  }
}

std::string ws_handshake_request(std::string_view host, std::uint16_t port, std::string_view path,
                                 std::string_view key, std::string_view subprotocol) {
  std::string r;
  r.reserve(256);
  r += "GET ";
  r += path.empty() ? std::string_view("/") : path;
  r += " HTTP/1.1\r\nHost: ";
  const bool ipv6_literal = host.find(':') != std::string_view::npos;
  if (ipv6_literal) r += '[';  // RFC 3986 IP-literal in Host
  r += host;
  if (ipv6_literal) r += ']';
  r += ':';
  r += std::to_string(port);
  r += "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ";
  r += key;
  r += "\r\nSec-WebSocket-Version: 13\r\n";
  if (!subprotocol.empty()) {
    r += "Sec-WebSocket-Protocol: ";
    r += subprotocol;
    r += "\r\n";
  }
  r += "\r\n";
  return r;
}

namespace {
std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}
std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}
}  // namespace

WsHandshakeResult ws_check_handshake_response(std::string_view response, std::string_view key,
                                              std::string_view subprotocol) {
  WsHandshakeResult r;
  const std::size_t end = response.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (response.size() > 16384) {
      r.state = WsHandshakeResult::State::error;
      r.error = "HTTP response header longer than 16 KiB";
    }
    return r;
  }
  r.header_bytes = end + 4;
  auto error = [&r](std::string msg) {
    r.state = WsHandshakeResult::State::error;
    r.error = std::move(msg);
    return r;
  };
  std::string_view head = response.substr(0, end);
  std::size_t eol = head.find("\r\n");
  const std::string_view status = head.substr(0, eol);
  if (status.size() < 12 || status.substr(0, 5) != "HTTP/" || status.find(" 101") != 8) {
    return error("expected HTTP 101, got: " + std::string(status));
  }
  bool upgrade = false;
  bool connection = false;
  std::optional<std::string> accept;
  std::optional<std::string> protocol;
  while (eol != std::string_view::npos) {
    head.remove_prefix(eol + 2);
    eol = head.find("\r\n");
    const std::string_view line = head.substr(0, eol);
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string name = lower(trim(line.substr(0, colon)));
    const std::string_view value = trim(line.substr(colon + 1));
    if (name == "upgrade") upgrade = lower(value) == "websocket";
    if (name == "connection") connection = lower(value).find("upgrade") != std::string::npos;
    if (name == "sec-websocket-accept") accept = std::string(value);
    if (name == "sec-websocket-protocol") protocol = std::string(value);
  }
  if (!upgrade) return error("missing 'Upgrade: websocket'");
  if (!connection) return error("missing 'Connection: Upgrade'");
  if (!accept) return error("missing Sec-WebSocket-Accept");
  if (*accept != websocket_accept(key)) return error("wrong Sec-WebSocket-Accept: " + *accept);
  if (!subprotocol.empty()) {
    if (!protocol) return error("server selected no subprotocol");
    if (*protocol != subprotocol) return error("server selected subprotocol " + *protocol);
  }
  r.state = WsHandshakeResult::State::ok;
  return r;
}

std::string ws_random_key() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uint8_t raw[16];
  const std::uint64_t a = rng();
  const std::uint64_t b = rng();
  std::memcpy(raw, &a, 8);
  std::memcpy(raw + 8, &b, 8);
  return base64(raw);
}

}  // namespace wisp_bench
