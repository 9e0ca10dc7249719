// The load generator's engine: Shared (state visible to all threads), Conn (one MQTT client
// connection over TCP or WebSocket, non-blocking) and Worker (one epoll loop owning a set of
// Conns). Each Worker runs on its own thread; Conns never migrate between Workers.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "histogram.h"
#include "options.h"
#include "protocol/decoder.h"
#include "stream_tracker.h"
#include "ws_frame.h"

namespace wisp_bench {

enum class Phase : int { setup = 0, run = 1, drain = 2, stop = 3 };
enum class Role : std::uint8_t { publisher, subscriber, idle };

std::uint64_t mono_ns() noexcept;  // CLOCK_MONOTONIC in nanoseconds

// Written by the main thread before the workers start, then read-only except the atomics.
struct Shared {
  Options opt;
  std::string run_id;
  std::uint32_t npubs = 0;
  std::uint32_t nsubs = 0;
  std::atomic<int> phase{static_cast<int>(Phase::setup)};
  std::atomic<std::uint64_t> t_start_ns{0};  // publishing starts
  // Per publisher: messages written so far (owned by the publisher's worker).
  std::unique_ptr<std::atomic<std::uint64_t>[]> sent;
  // Per stream (subscriber s, publisher p) at s * npubs + p: one past the highest sequence
  // number s has seen from p. Drives the end-to-end window.
  std::unique_ptr<std::atomic<std::uint64_t>[]> progress;
  // Resolved socket address of the broker (sockaddr_storage bytes).
  std::vector<std::uint8_t> addr;
  std::uint32_t addr_len = 0;
};

struct ConnSpec {
  Role role = Role::idle;
  std::uint32_t index = 0;  // publisher or subscriber index
  std::string client_id;
  std::string topic;                   // publish topic or subscription filter
  std::vector<std::uint32_t> streams;  // publisher: progress slots of its subscribers
  std::vector<std::uint32_t> sources;  // subscriber: publishers it hears from
};

class Worker;

class Conn final : public WsHandler {
 public:
  enum class State : std::uint8_t {
    idle_not_started,
    tcp_connecting,
    ws_handshake,
    mqtt_connecting,
    subscribing,
    ready,
    closed,
    failed,
  };
  Conn(Worker& w, ConnSpec spec);
  ~Conn() override;

  void start();                     // socket + non-blocking connect
  void on_event(std::uint32_t ev);  // epoll events
  void pump(std::uint64_t now);     // publisher: send what rate/window allow
  void ping_if_idle(std::uint64_t now);
  void close_gracefully();  // DISCONNECT (+ WS close), best effort, then close
  // Feeds received bytes as if read from the socket (also used by the rx ceiling test).
  void on_bytes(ByteSpan in);

  State state() const noexcept { return state_; }
  const ConnSpec& spec() const noexcept { return spec_; }
  std::uint32_t unacked() const noexcept { return inflight_; }
  const std::vector<StreamTracker>& trackers() const noexcept { return trackers_; }
  std::uint64_t window_stalls() const noexcept { return window_stalls_; }
  // Test hook: a ready connection with no socket. Its output is kept (readable with
  // detached_output()) when `keep_output`, else discarded.
  void make_detached_ready(bool keep_output = false);
  const std::vector<std::uint8_t>& detached_output() const noexcept { return out_; }
  // Wraps staged MQTT bytes in a WebSocket frame (ws) and writes what is pending.
  void flush() {
    flush_stage();
    try_send();
  }

  void on_ws_data(ByteSpan bytes) override;
  void on_ws_control(WsOpcode op, ByteSpan payload) override;

 private:
  void fail(std::string why);
  void on_connected();
  void mark_ready();
  void send_connect();
  void mqtt_bytes(ByteSpan in);
  void handle_publish(const protocol::Publish& p);
  std::vector<std::uint8_t>& mqtt_out() { return ws_ ? stage_ : out_; }
  void flush_stage();
  void try_send();
  void set_want_write(bool on);
  template <class P>
  void queue(const P& packet);
  std::uint16_t alloc_id();

  Worker& w_;
  ConnSpec spec_;
  int fd_ = -1;
  State state_ = State::idle_not_started;
  bool ws_ = false;
  bool want_write_ = false;
  bool keep_detached_output_ = false;
  std::uint16_t keep_alive_s_ = 0;  // as granted (v5 Server Keep Alive) or requested
  std::vector<std::uint8_t> out_;
  std::size_t out_off_ = 0;
  std::vector<std::uint8_t> stage_;  // MQTT bytes waiting to be wrapped in a WS frame
  protocol::Decoder decoder_;
  WsFrameDecoder ws_decoder_;
  std::string ws_key_;
  std::string http_;
  std::uint64_t last_tx_ns_ = 0;
  std::uint64_t state_since_ns_ = 0;
  // Publisher.
  std::uint64_t seq_ = 0;
  std::uint32_t inflight_ = 0;
  std::uint16_t receive_max_ = 65535;
  std::uint16_t next_id_ = 1;
  std::vector<bool> id_used_;
  std::uint64_t window_floor_ = 0;      // window base after a released stall
  std::uint64_t blocked_since_ns_ = 0;  // window full since (0 = not blocked)
  std::uint64_t blocked_progress_ = 0;
  std::uint64_t window_stalls_ = 0;
  // Subscriber.
  std::vector<StreamTracker> trackers_;  // indexed by publisher
};

struct WorkerStats {
  Histogram latency;
  Histogram connect_time;      // socket() to CONNACK (or SUBACK for subscribers)
  std::uint64_t received = 0;  // PUBLISH with our header (incl. duplicates)
  std::uint64_t unique = 0;    // ... counted once per (subscriber, publisher, seq)
  std::uint64_t foreign = 0;   // PUBLISH without our header
  std::uint64_t payload_bytes = 0;
  std::uint64_t acked = 0;       // PUBACK / PUBCOMP received
  std::uint64_t ack_errors = 0;  // v5 PUBACK/PUBREC with an error reason
  std::uint64_t first_connect_ns = 0;
  std::uint64_t last_connack_ns = 0;
  std::uint64_t first_rx_ns = 0;
  std::uint64_t last_rx_ns = 0;
  std::uint64_t server_disconnects = 0;
  std::uint64_t broken = 0;  // connections lost after they were ready
  std::uint64_t ws_pings = 0;
  std::vector<std::string> errors;  // first few distinct messages
  std::uint64_t error_count = 0;
};

class Worker {
 public:
  Worker(Shared& shared, std::uint32_t id);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void add(ConnSpec spec);
  void run();  // thread body; returns when phase == stop

  Shared& shared() noexcept { return shared_; }
  WorkerStats& stats() noexcept { return stats_; }
  const std::vector<std::unique_ptr<Conn>>& conns() const noexcept { return conns_; }
  int epoll_fd() const noexcept { return ep_; }
  std::uint8_t* read_buffer() noexcept { return rbuf_.data(); }
  std::size_t read_buffer_size() const noexcept { return rbuf_.size(); }
  const std::vector<std::uint8_t>& payload_template() const noexcept { return payload_; }
  std::uint32_t mask_rand() noexcept { return static_cast<std::uint32_t>(rng_()); }
  std::uint64_t now() const noexcept { return now_; }
  void note_error(const std::string& msg);

  // Cross-thread progress counters (relaxed).
  std::atomic<std::uint64_t> ready{0};
  std::atomic<std::uint64_t> failed{0};
  std::atomic<std::uint64_t> rx_unique{0};
  std::atomic<std::uint64_t> rx_total{0};
  std::atomic<std::uint64_t> unacked{0};
  std::atomic<std::uint64_t> tx_total{0};
  std::atomic<std::uint64_t> broken{0};  // = stats().broken, for the main thread
  // Last phase this worker acted on; stored after the counters above, so a reader that sees
  // drain here also sees every publish the worker made while running.
  std::atomic<int> phase_seen{static_cast<int>(Phase::setup)};
  std::uint32_t connecting = 0;  // worker-local: in setup, not yet ready/failed

 private:
  Shared& shared_;
  std::uint32_t id_;
  int ep_ = -1;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::vector<Conn*> publishers_;
  std::size_t next_start_ = 0;
  std::vector<std::uint8_t> rbuf_;
  std::vector<std::uint8_t> payload_;
  std::mt19937_64 rng_;
  std::uint64_t now_ = 0;
  WorkerStats stats_;
};

}  // namespace wisp_bench
