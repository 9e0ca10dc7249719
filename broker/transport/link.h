// Link: one MQTT socket (raw TCP/TLS or WebSocket) on the lws loop. Implements core::Peer for
// the engine and owns the socket's Endpoint (the core::Connection). The lws per-session memory
// is a ConnectionSlot holding only a pointer to the Link: lws zero-fills and frees it, so no
// C++ destructor could ever run there. Loop thread only.
#pragma once

#include <libwebsockets.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "broker/core/peer.h"
#include "broker/transport/endpoint.h"
#include "broker/transport/loop_state.h"
#include "protocol/reason_code.h"

namespace broker::transport {

// What an HTTP transaction on the "http-api" protocol answers in HTTP_WRITEABLE.
enum class HttpReply : std::uint8_t { none, healthz };

struct ConnectionSlot {
  Link* link;
  HttpReply http_reply;
};

class Link final : public core::Peer {
 public:
  // Creates the link and its endpoint; returns nullptr (socket to be closed) if the endpoint
  // could not be created.
  static Link* open(LoopState& loop, ListenerState& listener, lws* wsi, core::TransportKind kind,
                    core::ConnectionInfo info);

  // Trampolines from the lws callback; each returns lws's 0 (go on) / -1 (close).
  int bytes_in(const void* in, std::size_t len);
  int ws_bytes_in(const void* in, std::size_t len);
  int writable();
  // The socket is gone: tells the endpoint and deletes the link.
  void closed();

  // Tick sweep: disconnects a slow consumer past the hard limit.
  void check_output_limits();

  // core::Peer
  void want_write() noexcept override;
  void close(protocol::ReasonCode why) noexcept override;
  void pause_reading(bool paused) noexcept override;

  core::TransportKind kind() const noexcept { return kind_; }

 private:
  Link(LoopState& loop, ListenerState& listener, lws* wsi, core::TransportKind kind);
  ~Link() override = default;
  bool is_ws() const noexcept {
    return kind_ == core::TransportKind::ws || kind_ == core::TransportKind::wss;
  }
  void update_rx_flow() noexcept;
  void update_output_pressure() noexcept;
  void kill(const char* why) noexcept;

  LoopState& loop_;
  ListenerState& listener_;
  lws* wsi_;
  core::TransportKind kind_;
  std::unique_ptr<Endpoint> endpoint_;
  protocol::ReasonCode close_reason_ = protocol::ReasonCode::normal_disconnection;
  bool closing_ = false;    // flush what is queued, then close
  bool dead_ = false;       // no more I/O: returned -1 or killed
  bool got_bytes_ = false;  // first bytes arrived: the connect backstop timer is cleared
  bool paused_by_engine_ = false;
  bool paused_by_output_ = false;
  bool rx_paused_ = false;  // what lws was last told
};

}  // namespace broker::transport
