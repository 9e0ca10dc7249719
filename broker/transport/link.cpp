// Link: the per-socket trampolines (read, write pump, close) and the engine's Peer.
#include "broker/transport/link.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <span>

namespace broker::transport {

namespace {

// WebSocket close code for the reason the engine closed with (Peer::close contract).
lws_close_status ws_close_code(protocol::ReasonCode why) noexcept {
  using protocol::ReasonCode;
  switch (why) {
    case ReasonCode::server_shutting_down: return LWS_CLOSE_STATUS_GOINGAWAY;
    case ReasonCode::packet_too_large: return LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE;
    case ReasonCode::malformed_packet:
    case ReasonCode::protocol_error: return LWS_CLOSE_STATUS_PROTOCOL_ERR;
    case ReasonCode::not_authorized:
    case ReasonCode::bad_user_name_or_password:
    case ReasonCode::banned: return LWS_CLOSE_STATUS_POLICY_VIOLATION;
    default: return LWS_CLOSE_STATUS_NORMAL;
  }
}

// Largest WebSocket frame we accept: the MQTT maximum packet size, else the protocol maximum
// (remaining length 268,435,455 + 5 header bytes).
std::size_t max_frame_bytes(const ServerOptions& o) noexcept {
  return o.max_packet_bytes != 0 ? o.max_packet_bytes : std::size_t{268'435'455 + 5};
}

}  // namespace

Link::Link(LoopState& loop, ListenerState& listener, lws* wsi, core::TransportKind kind)
    : loop_(loop), listener_(listener), wsi_(wsi), kind_(kind) {}

Link* Link::open(LoopState& loop, ListenerState& listener, lws* wsi, core::TransportKind kind,
                 core::ConnectionInfo info) {
  auto* link = new Link(loop, listener, wsi, kind);
  link->endpoint_ = loop.options->make_endpoint(*link, std::move(info));
  if (!link->endpoint_) {
    delete link;
    return nullptr;
  }
  if (loop.options->tcp_nodelay) {
    const int one = 1;
    setsockopt(lws_get_socket_fd(wsi), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  loop.links.insert(link);
  ++listener.links;
  loop.counters.connections = loop.links.size();
  ++loop.counters.accepted;
  // Backstop for a socket that never sends a byte (the engine's sweep enforces the CONNECT
  // deadline itself). Raw links on a one-port listener have no lws timeout at all otherwise,
  // raw TLS links have a 5 s one that the raw role never clears (LWS-NOTES §2, §9).
  const auto secs = static_cast<int>(loop.options->connect_timeout.count()) + 2;
  lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, std::max(secs, 3));
  return link;
}

int Link::bytes_in(const void* in, std::size_t len) {
  if (dead_) return -1;
  if (!got_bytes_) {
    got_bytes_ = true;
    lws_set_timeout(wsi_, NO_PENDING_TIMEOUT, 0);
  }
  if (closing_ || len == 0) return 0;  // flushing a close: ignore further input
  endpoint_->on_bytes({static_cast<const std::uint8_t*>(in), len});
  if (dead_) return -1;
  update_output_pressure();
  return 0;
}

int Link::ws_bytes_in(const void* in, std::size_t len) {
  if (dead_) return -1;
  // [MQTT-6.0.0-1] MQTT control packets travel in binary frames; text closes with 1003.
  if (!lws_frame_is_binary(wsi_)) {
    dead_ = true;
    static constexpr char kMsg[] = "MQTT needs binary frames";
    lws_close_reason(wsi_, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE,
                     reinterpret_cast<unsigned char*>(const_cast<char*>(kMsg)), sizeof kMsg - 1);
    return -1;
  }
  // lws has no message-size limit: the remaining frame payload is known from the first chunk,
  // so an oversized frame is refused before anything is buffered.
  if (len + lws_remaining_packet_payload(wsi_) > max_frame_bytes(*loop_.options)) {
    dead_ = true;
    spdlog::info("{}: closing WebSocket link: frame larger than the maximum packet size",
                 listener_.label);
    static constexpr char kMsg[] = "frame too large";
    lws_close_reason(wsi_, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
                     reinterpret_cast<unsigned char*>(const_cast<char*>(kMsg)), sizeof kMsg - 1);
    return -1;
  }
  return bytes_in(in, len);
}

int Link::writable() {
  if (dead_) return -1;  // WRITEABLE can fire again after a close was decided (LWS-NOTES §4)
  std::uint8_t* buf = loop_.staging.data() + LWS_PRE;
  // Several staging batches per WRITEABLE (up to kWriteBudget), so a 1 MiB message is not one
  // loop pass per 64 KiB. WebSocket: a further lws_write only while lws holds no partial
  // (LWS-NOTES §4). Plain TCP: send() straight to the socket until it is full; the part it
  // does not take goes to lws_write, which buffers it and holds WRITEABLE back until drained.
  const bool plain_tcp = kind_ == core::TransportKind::tcp;
  std::size_t budget = kWriteBudget;
  while (budget != 0) {
    const std::size_t n =
        endpoint_->fill_output(std::span<std::uint8_t>(buf, std::min(kStagingCap, budget)));
    if (n == 0) break;
    budget -= n;
    if (plain_tcp) {
      ssize_t k = ::send(lws_get_socket_fd(wsi_), buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (k < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
          dead_ = true;
          return -1;
        }
        k = 0;
      }
      const auto sent = static_cast<std::size_t>(k);
      if (sent == n) continue;
      if (lws_write(wsi_, buf + sent, n - sent, LWS_WRITE_RAW) < 0) {
        dead_ = true;
        return -1;
      }
      break;
    }
    if (lws_write(wsi_, buf, n, is_ws() ? LWS_WRITE_BINARY : LWS_WRITE_RAW) < 0) {
      dead_ = true;
      return -1;
    }
    if (lws_partial_buffered(wsi_)) break;
  }
  update_output_pressure();
  if (dead_) return -1;
  if (endpoint_->has_output()) {
    lws_callback_on_writable(wsi_);
    return 0;
  }
  if (closing_) {
    dead_ = true;
    if (is_ws()) lws_close_reason(wsi_, ws_close_code(close_reason_), nullptr, 0);
    return -1;  // lws flushes what it buffered before closing
  }
  return 0;
}

void Link::closed() {
  dead_ = true;
  loop_.links.erase(this);
  --listener_.links;
  loop_.counters.connections = loop_.links.size();
  auto endpoint = std::move(endpoint_);
  if (endpoint) endpoint->on_closed();  // may fan out a will to other links
  endpoint.reset();
  delete this;
}

void Link::want_write() noexcept {
  if (!dead_) lws_callback_on_writable(wsi_);
}

void Link::close(protocol::ReasonCode why) noexcept {
  if (dead_ || closing_) return;
  closing_ = true;
  close_reason_ = why;
  lws_callback_on_writable(wsi_);
}

void Link::pause_reading(bool paused) noexcept {
  paused_by_engine_ = paused;
  update_rx_flow();
}

void Link::update_rx_flow() noexcept {
  const bool want_paused = paused_by_engine_ || paused_by_output_;
  if (dead_ || want_paused == rx_paused_) return;
  rx_paused_ = want_paused;
  lws_rx_flow_control(wsi_, want_paused ? 0 : 1);
}

// Back-pressure on a client whose own output is backed up: stop reading its requests above
// the high-water mark, resume below the low-water mark, drop it past the hard limit.
void Link::update_output_pressure() noexcept {
  if (dead_ || !endpoint_) return;
  const auto& o = *loop_.options;
  const std::size_t queued = endpoint_->queued_output_bytes();
  if (o.output_hard_limit_bytes != 0 && queued > o.output_hard_limit_bytes) {
    ++loop_.counters.slow_consumers;
    spdlog::warn("{}: disconnecting slow consumer: {} bytes of output queued (limit {})",
                 listener_.label, queued, o.output_hard_limit_bytes);
    kill("slow consumer");
    return;
  }
  if (!paused_by_output_ && o.output_high_water_bytes != 0 && queued > o.output_high_water_bytes) {
    paused_by_output_ = true;
    update_rx_flow();
  } else if (paused_by_output_ && queued <= o.output_low_water_bytes) {
    paused_by_output_ = false;
    update_rx_flow();
  }
}

void Link::check_output_limits() { update_output_pressure(); }

void Link::kill(const char* why) noexcept {
  if (dead_) return;
  dead_ = true;
  if (is_ws()) {
    lws_close_reason(wsi_, LWS_CLOSE_STATUS_POLICY_VIOLATION,
                     reinterpret_cast<unsigned char*>(const_cast<char*>(why)),
                     std::char_traits<char>::length(why));
  }
  // Asynchronous: safe from any callback, CLOSED/RAW_CLOSE follows (LWS-NOTES §6).
  lws_set_timeout(wsi_, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

}  // namespace broker::transport
