// Conn and Worker: non-blocking MQTT clients on one epoll loop per thread; see worker.h.
#include "worker.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "payload.h"
#include "protocol/encoder.h"

namespace wisp_bench {

using protocol::QoS;

std::uint64_t mono_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

namespace {
constexpr std::size_t kOutHighWater = 1024 * 1024;  // stop generating above this backlog
constexpr std::size_t kBatchBytes = 256 * 1024;     // publishes generated per pump
constexpr std::uint64_t kStallReleaseNs = 200'000'000;
constexpr int kReadsPerEvent = 4;
constexpr std::uint32_t kConnsPerSourceIp = 20000;
}  // namespace

// ---- Conn --------------------------------------------------------------------------------

Conn::Conn(Worker& w, ConnSpec spec) : w_(w), spec_(std::move(spec)) {
  const Shared& sh = w_.shared();
  ws_ = sh.opt.transport == Transport::ws;
  decoder_.set_version(sh.opt.version);
  if (spec_.role == Role::subscriber) trackers_.resize(sh.npubs);
  if (spec_.role == Role::publisher && sh.opt.qos != QoS::at_most_once) id_used_.resize(65536);
}

Conn::~Conn() {
  if (fd_ >= 0) ::close(fd_);
}

void Conn::make_detached_ready(bool keep_output) {
  state_ = State::ready;
  fd_ = -1;
  keep_detached_output_ = keep_output;
}

void Conn::start() {
  const Shared& sh = w_.shared();
  const auto* sa = reinterpret_cast<const sockaddr*>(sh.addr.data());
  fd_ = ::socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  state_ = State::tcp_connecting;
  state_since_ns_ = mono_ns();
  if (w_.stats().first_connect_ns == 0) w_.stats().first_connect_ns = mono_ns();
  if (fd_ < 0) {
    fail(std::string("socket: ") + std::strerror(errno));
    return;
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (sa->sa_family == AF_INET && sh.opt.clients > kConnsPerSourceIp) {
    // One source address has ~28k ephemeral ports towards one broker port: spread big
    // storms over 127.0.0.1, .2, ... (loopback /8 answers on every address).
    const auto* dst = reinterpret_cast<const sockaddr_in*>(sa);
    if ((ntohl(dst->sin_addr.s_addr) >> 24) == 127) {
      sockaddr_in src{};
      src.sin_family = AF_INET;
      src.sin_addr.s_addr = htonl(0x7F000001u + spec_.index / kConnsPerSourceIp % 250);
      ::setsockopt(fd_, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
      if (::bind(fd_, reinterpret_cast<const sockaddr*>(&src), sizeof src) != 0) {
        fail(std::string("bind source address: ") + std::strerror(errno));
        return;
      }
    }
  }
  if (::connect(fd_, sa, sh.addr_len) != 0 && errno != EINPROGRESS) {
    fail(std::string("connect: ") + std::strerror(errno));
    return;
  }
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT;
  ev.data.ptr = this;
  want_write_ = true;
  if (::epoll_ctl(w_.epoll_fd(), EPOLL_CTL_ADD, fd_, &ev) != 0) {
    fail(std::string("epoll_ctl: ") + std::strerror(errno));
  }
}

void Conn::fail(std::string why) {
  if (state_ == State::failed || state_ == State::closed) return;
  const bool in_setup = state_ != State::ready;
  w_.note_error(spec_.client_id + ": " + why);
  if (!in_setup) {
    ++w_.stats().broken;
    w_.broken.fetch_add(1, std::memory_order_relaxed);
  }
  if (in_setup && state_ != State::idle_not_started) {
    w_.failed.fetch_add(1, std::memory_order_relaxed);
    --w_.connecting;
  } else if (in_setup) {
    w_.failed.fetch_add(1, std::memory_order_relaxed);
  }
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  state_ = State::failed;
  inflight_ = 0;
}

void Conn::on_event(std::uint32_t ev) {
  if (state_ == State::tcp_connecting) {
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      fail(std::string("connect: ") + std::strerror(err));
      return;
    }
    if ((ev & (EPOLLOUT | EPOLLIN | EPOLLERR | EPOLLHUP)) == 0) return;
    on_connected();
    if (fd_ < 0) return;
  }
  if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
    for (int i = 0; i < kReadsPerEvent && fd_ >= 0; ++i) {
      const ssize_t n = ::recv(fd_, w_.read_buffer(), w_.read_buffer_size(), MSG_DONTWAIT);
      if (n > 0) {
        on_bytes(ByteSpan(w_.read_buffer(), static_cast<std::size_t>(n)));
        if (static_cast<std::size_t>(n) < w_.read_buffer_size()) break;
        continue;
      }
      if (n == 0) {
        fail("connection closed by the broker");
        return;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      fail(std::string("recv: ") + std::strerror(errno));
      return;
    }
  }
  if (fd_ < 0) return;
  flush_stage();
  try_send();
}

void Conn::on_connected() {
  if (ws_) {
    const Shared& sh = w_.shared();
    ws_key_ = ws_random_key();
    const std::string req =
        ws_handshake_request(sh.opt.host, sh.opt.port, sh.opt.path, ws_key_, "mqtt");
    out_.insert(out_.end(), req.begin(), req.end());
    state_ = State::ws_handshake;
    try_send();
  } else {
    send_connect();
  }
}

void Conn::send_connect() {
  const Shared& sh = w_.shared();
  protocol::Connect c;
  c.version = sh.opt.version;
  c.clean_start = !sh.opt.persistent;
  if (sh.opt.persistent && sh.opt.version == protocol::ProtocolVersion::v5) {
    c.properties.session_expiry_interval = 600;
  }
  c.keep_alive_s = sh.opt.keep_alive_s;
  keep_alive_s_ = sh.opt.keep_alive_s;
  c.client_id = spec_.client_id;
  state_ = State::mqtt_connecting;
  queue(c);
  flush_stage();
  try_send();
}

template <class P>
void Conn::queue(const P& packet) {
  protocol::ByteWriter wr(mqtt_out());
  protocol::encode(packet, w_.shared().opt.version, wr);
}

void Conn::on_bytes(ByteSpan in) {
  if (state_ == State::ws_handshake) {
    http_.append(reinterpret_cast<const char*>(in.data()), in.size());
    const WsHandshakeResult r = ws_check_handshake_response(http_, ws_key_, "mqtt");
    if (r.state == WsHandshakeResult::State::need_more) return;
    if (r.state == WsHandshakeResult::State::error) {
      fail("WebSocket handshake: " + r.error);
      return;
    }
    const std::string rest = http_.substr(r.header_bytes);
    http_.clear();
    http_.shrink_to_fit();
    send_connect();
    if (fd_ < 0 || rest.empty()) return;
    in = ByteSpan(reinterpret_cast<const std::uint8_t*>(rest.data()), rest.size());
    const WsError e = ws_decoder_.feed(in, *this);
    if (e != WsError::none) fail(std::string("WebSocket: ") + to_string(e));
    return;
  }
  if (ws_) {
    const WsError e = ws_decoder_.feed(in, *this);
    if (e != WsError::none) fail(std::string("WebSocket: ") + to_string(e));
  } else {
    mqtt_bytes(in);
  }
}

void Conn::on_ws_data(ByteSpan bytes) {
  if (state_ == State::failed || state_ == State::closed) return;
  mqtt_bytes(bytes);
}

void Conn::on_ws_control(WsOpcode op, ByteSpan payload) {
  if (state_ == State::failed || state_ == State::closed) return;
  if (op == WsOpcode::ping) {
    ++w_.stats().ws_pings;
    flush_stage();  // keep byte order: pending data frame first
    WsMaskKey key{};
    const std::uint32_t r = w_.mask_rand();
    std::memcpy(key.data(), &r, 4);
    ws_append_frame(out_, WsOpcode::pong, true, payload, key);
  } else if (op == WsOpcode::close) {
    flush_stage();
    WsMaskKey key{};
    const std::uint32_t r = w_.mask_rand();
    std::memcpy(key.data(), &r, 4);
    const ByteSpan code = payload.size() >= 2 ? payload.subspan(0, 2) : ByteSpan{};
    ws_append_frame(out_, WsOpcode::close, true, code, key);
    try_send();
    const unsigned c = payload.size() >= 2 ? (unsigned{payload[0]} << 8) | payload[1] : 1005;
    fail("broker closed the WebSocket, code " + std::to_string(c));
  }
}

void Conn::mqtt_bytes(ByteSpan in) {
  while (state_ != State::failed && state_ != State::closed) {
    protocol::DecodeStep step = decoder_.next(in);
    if (std::holds_alternative<protocol::NeedMore>(step)) return;
    if (auto* err = std::get_if<protocol::DecodeError>(&step)) {
      fail(std::string("malformed packet from broker: ") + err->detail + " (" +
           protocol::to_string(err->reason) + ")");
      return;
    }
    protocol::Packet& pkt = std::get<protocol::Packet>(step);
    if (auto* pub = std::get_if<protocol::Publish>(&pkt)) {
      handle_publish(*pub);
    } else if (auto* ack = std::get_if<protocol::PubAck>(&pkt)) {
      if (ack->id < id_used_.size() && id_used_[ack->id]) {
        id_used_[ack->id] = false;
        --inflight_;
        ++w_.stats().acked;
        if (protocol::is_error(ack->reason)) ++w_.stats().ack_errors;
      }
    } else if (auto* rec = std::get_if<protocol::PubRec>(&pkt)) {
      if (rec->id < id_used_.size() && id_used_[rec->id]) {
        if (protocol::is_error(rec->reason)) {  // flow ends here [MQTT-4.3.3]
          id_used_[rec->id] = false;
          --inflight_;
          ++w_.stats().ack_errors;
        } else {
          queue(protocol::PubRel{rec->id, protocol::ReasonCode::success, {}});
        }
      }
    } else if (auto* comp = std::get_if<protocol::PubComp>(&pkt)) {
      if (comp->id < id_used_.size() && id_used_[comp->id]) {
        id_used_[comp->id] = false;
        --inflight_;
        ++w_.stats().acked;
      }
    } else if (auto* rel = std::get_if<protocol::PubRel>(&pkt)) {
      queue(protocol::PubComp{rel->id, protocol::ReasonCode::success, {}});
    } else if (auto* ca = std::get_if<protocol::ConnAck>(&pkt)) {
      if (state_ != State::mqtt_connecting) {
        fail("unexpected CONNACK");
        return;
      }
      if (ca->reason != protocol::ReasonCode::success) {
        fail(std::string("CONNACK refused: ") + protocol::to_string(ca->reason));
        return;
      }
      if (ca->properties.receive_maximum) receive_max_ = *ca->properties.receive_maximum;
      // [MQTT-3.2.2-22] the client must use the Server Keep Alive instead of its own.
      if (ca->properties.server_keep_alive) keep_alive_s_ = *ca->properties.server_keep_alive;
      WorkerStats& st = w_.stats();
      st.last_connack_ns = std::max(st.last_connack_ns, mono_ns());
      if (spec_.role == Role::subscriber) {
        protocol::Subscribe s;
        s.id = 1;
        s.subscriptions.push_back({spec_.topic, {w_.shared().opt.qos, false, false, 0}});
        queue(s);
        state_ = State::subscribing;
      } else {
        mark_ready();
      }
    } else if (auto* sa = std::get_if<protocol::SubAck>(&pkt)) {
      if (state_ != State::subscribing) {
        fail("unexpected SUBACK");
        return;
      }
      for (protocol::ReasonCode r : sa->reasons) {
        if (protocol::is_error(r)) {
          fail(std::string("SUBACK refused: ") + protocol::to_string(r));
          return;
        }
      }
      mark_ready();
    } else if (auto* d = std::get_if<protocol::Disconnect>(&pkt)) {
      ++w_.stats().server_disconnects;
      fail(std::string("DISCONNECT from broker: ") + protocol::to_string(d->reason));
      return;
    }
    // PINGRESP and anything else: nothing to do.
  }
}

void Conn::handle_publish(const protocol::Publish& p) {
  WorkerStats& st = w_.stats();
  const std::uint64_t now = w_.now();
  const auto h = read_payload_header(p.payload);
  const Shared& sh = w_.shared();
  if (!h || h->publisher >= sh.npubs || spec_.role != Role::subscriber) {
    ++st.foreign;
  } else {
    StreamTracker& t = trackers_[h->publisher];
    const std::uint64_t before = t.unique();
    t.record(h->seq);
    st.unique += t.unique() - before;
    sh.progress[static_cast<std::size_t>(spec_.index) * sh.npubs + h->publisher].store(
        t.next_expected(), std::memory_order_relaxed);
    if (now > h->sent_ns) st.latency.record(now - h->sent_ns);
    ++st.received;
    st.payload_bytes += p.payload.size();
    if (st.first_rx_ns == 0) st.first_rx_ns = now;
    st.last_rx_ns = now;
  }
  if (p.qos == QoS::at_least_once) {
    queue(protocol::PubAck{p.id, protocol::ReasonCode::success, {}});
  } else if (p.qos == QoS::exactly_once) {
    queue(protocol::PubRec{p.id, protocol::ReasonCode::success, {}});
  }
}

void Conn::mark_ready() {
  state_ = State::ready;
  --w_.connecting;
  w_.ready.fetch_add(1, std::memory_order_relaxed);
  const std::uint64_t now = mono_ns();
  if (now > state_since_ns_) w_.stats().connect_time.record(now - state_since_ns_);
}

std::uint16_t Conn::alloc_id() {
  // inflight_ < 65535 is guaranteed by the window, so this terminates.
  while (next_id_ == 0 || id_used_[next_id_]) ++next_id_;
  const std::uint16_t id = next_id_++;
  id_used_[id] = true;
  return id;
}

void Conn::pump(std::uint64_t now) {
  if (state_ != State::ready) return;
  Shared& sh = w_.shared();
  if (spec_.role != Role::publisher) return;
  if (out_.size() - out_off_ > kOutHighWater) return;
  const Options& o = sh.opt;
  std::uint64_t allowed = UINT64_MAX;
  if (o.rate > 0) {
    const double per_pub = o.rate / sh.npubs;
    const std::uint64_t t0 = sh.t_start_ns.load(std::memory_order_relaxed);
    const double elapsed_s = now > t0 ? static_cast<double>(now - t0) / 1e9 : 0.0;
    const auto due = static_cast<std::uint64_t>(per_pub * elapsed_s) + 1;
    allowed = due > seq_ ? due - seq_ : 0;
  }
  if (!spec_.streams.empty()) {
    std::uint64_t m = UINT64_MAX;
    for (std::uint32_t slot : spec_.streams) {
      m = std::min(m, sh.progress[slot].load(std::memory_order_relaxed));
    }
    std::uint64_t base = std::max(m, window_floor_);
    std::uint64_t in_window = seq_ > base ? seq_ - base : 0;
    if (in_window >= o.inflight) {
      if (blocked_since_ns_ == 0 || m != blocked_progress_) {
        blocked_since_ns_ = now;
        blocked_progress_ = m;
        return;
      }
      if (now - blocked_since_ns_ < kStallReleaseNs) return;
      // No delivery progress for a while: the broker dropped the window's tail (QoS 0) or
      // is stuck. Open a fresh window so the run goes on; losses show in the report.
      window_floor_ = seq_;
      ++window_stalls_;
      base = seq_;
      in_window = 0;
    }
    blocked_since_ns_ = 0;
    allowed = std::min<std::uint64_t>(allowed, o.inflight - in_window);
  }
  if (o.qos != QoS::at_most_once) {
    const std::uint32_t cap = std::min<std::uint32_t>({o.inflight, receive_max_, 65000});
    allowed = std::min<std::uint64_t>(allowed, inflight_ < cap ? cap - inflight_ : 0);
  }
  if (allowed == 0) return;
  protocol::PublishHead head;
  head.topic = spec_.topic;
  head.qos = o.qos;
  head.payload_len = o.size;
  const std::size_t pkt_size = protocol::publish_packet_size(head, o.version) + 2;
  const std::uint64_t batch = std::max<std::size_t>(1, kBatchBytes / pkt_size);
  const std::uint64_t n = std::min(allowed, batch);
  std::vector<std::uint8_t>& buf = mqtt_out();
  buf.reserve(buf.size() + n * pkt_size);
  const std::vector<std::uint8_t>& tmpl = w_.payload_template();
  for (std::uint64_t i = 0; i < n; ++i) {
    if (o.qos != QoS::at_most_once) {
      head.id = alloc_id();
      ++inflight_;
    }
    protocol::ByteWriter wr(buf);
    protocol::encode_publish_head(head, o.version, wr);
    const std::size_t at = buf.size();
    buf.insert(buf.end(), tmpl.begin(), tmpl.end());
    write_payload_header(buf.data() + at, PayloadHeader{spec_.index, seq_, now});
    ++seq_;
  }
  sh.sent[spec_.index].store(seq_, std::memory_order_relaxed);
  flush_stage();
  try_send();
}

void Conn::ping_if_idle(std::uint64_t now) {
  const std::uint16_t ka = keep_alive_s_;
  if (state_ != State::ready || fd_ < 0 || ka == 0) return;
  if (now - last_tx_ns_ < std::uint64_t{ka} * 500'000'000ull) return;
  queue(protocol::PingReq{});
  flush_stage();
  try_send();
}

void Conn::close_gracefully() {
  if (fd_ < 0) return;
  if (state_ == State::ready) {
    queue(protocol::Disconnect{});
    flush_stage();
    if (ws_) {
      WsMaskKey key{};
      const std::uint32_t r = w_.mask_rand();
      std::memcpy(key.data(), &r, 4);
      const std::uint8_t code[2] = {0x03, 0xE8};  // 1000 normal closure
      ws_append_frame(out_, WsOpcode::close, true, code, key);
    }
    // One attempt only: shutdown must not wait on a stalled broker.
    if (out_off_ < out_.size()) {
      [[maybe_unused]] const ssize_t n =
          ::send(fd_, out_.data() + out_off_, out_.size() - out_off_, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
  }
  ::close(fd_);
  fd_ = -1;
  state_ = State::closed;
}

void Conn::flush_stage() {
  if (!ws_ || stage_.empty()) return;
  if (fd_ < 0 && !keep_detached_output_) {
    stage_.clear();
    return;
  }
  WsMaskKey key{};
  const std::uint32_t r = w_.mask_rand();
  std::memcpy(key.data(), &r, 4);
  ws_append_header(out_, WsOpcode::binary, true, stage_.size(), key);
  const std::size_t at = out_.size();
  out_.insert(out_.end(), stage_.begin(), stage_.end());
  ws_mask(out_.data() + at, stage_.size(), key, 0);
  stage_.clear();
}

void Conn::try_send() {
  if (fd_ < 0) {
    if (keep_detached_output_) return;
    out_.clear();
    out_off_ = 0;
    return;
  }
  while (out_off_ < out_.size()) {
    const ssize_t n =
        ::send(fd_, out_.data() + out_off_, out_.size() - out_off_, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      out_off_ += static_cast<std::size_t>(n);
      last_tx_ns_ = w_.now();
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (out_off_ > 65536 && out_off_ * 2 > out_.size()) {
        out_.erase(out_.begin(), out_.begin() + static_cast<std::ptrdiff_t>(out_off_));
        out_off_ = 0;
      }
      set_want_write(true);
      return;
    }
    fail(std::string("send: ") + std::strerror(errno));
    return;
  }
  out_.clear();
  out_off_ = 0;
  set_want_write(false);
}

void Conn::set_want_write(bool on) {
  if (on == want_write_ || fd_ < 0) return;
  epoll_event ev{};
  ev.events = EPOLLIN | (on ? EPOLLOUT : 0u);
  ev.data.ptr = this;
  ::epoll_ctl(w_.epoll_fd(), EPOLL_CTL_MOD, fd_, &ev);
  want_write_ = on;
}

// ---- Worker ------------------------------------------------------------------------------

Worker::Worker(Shared& shared, std::uint32_t id)
    : shared_(shared), id_(id), rbuf_(256 * 1024), rng_(std::random_device{}() + id) {
  ep_ = ::epoll_create1(EPOLL_CLOEXEC);
  payload_.resize(shared_.opt.size);
  for (std::size_t i = 0; i < payload_.size(); ++i) {
    payload_[i] = static_cast<std::uint8_t>('a' + i % 26);
  }
  now_ = mono_ns();
}

Worker::~Worker() {
  conns_.clear();
  if (ep_ >= 0) ::close(ep_);
}

void Worker::add(ConnSpec spec) {
  conns_.push_back(std::make_unique<Conn>(*this, std::move(spec)));
  if (conns_.back()->spec().role == Role::publisher) publishers_.push_back(conns_.back().get());
}

void Worker::note_error(const std::string& msg) {
  ++stats_.error_count;
  if (stats_.errors.size() < 5 &&
      std::find(stats_.errors.begin(), stats_.errors.end(), msg) == stats_.errors.end()) {
    stats_.errors.push_back(msg);
  }
}

void Worker::run() {
  epoll_event evs[512];
  std::uint64_t last_housekeeping = mono_ns();
  bool busy = false;
  for (;;) {
    const auto phase = static_cast<Phase>(shared_.phase.load(std::memory_order_acquire));
    if (phase == Phase::stop) break;
    phase_seen.store(static_cast<int>(phase), std::memory_order_release);
    if (phase == Phase::setup) {
      const std::uint32_t budget =
          std::max<std::uint32_t>(1, shared_.opt.connect_concurrency / shared_.opt.threads);
      while (connecting < budget && next_start_ < conns_.size()) {
        ++connecting;
        now_ = mono_ns();
        conns_[next_start_++]->start();
      }
    }
    const int timeout = phase == Phase::run ? (busy ? 0 : 1) : 5;
    const int n = ::epoll_wait(ep_, evs, 512, timeout);
    now_ = mono_ns();
    for (int i = 0; i < n; ++i) {
      static_cast<Conn*>(evs[i].data.ptr)->on_event(evs[i].events);
    }
    busy = n > 0;
    std::uint64_t unacked_sum = 0;
    if (phase == Phase::run) {
      std::uint64_t tx = 0;
      for (Conn* p : publishers_) {
        p->pump(now_);
        tx += shared_.sent[p->spec().index].load(std::memory_order_relaxed);
      }
      if (tx != tx_total.load(std::memory_order_relaxed)) busy = true;
      tx_total.store(tx, std::memory_order_relaxed);
    }
    for (Conn* p : publishers_) unacked_sum += p->unacked();
    unacked.store(unacked_sum, std::memory_order_relaxed);
    rx_unique.store(stats_.unique, std::memory_order_relaxed);
    rx_total.store(stats_.received, std::memory_order_relaxed);
    if (now_ - last_housekeeping > 1'000'000'000ull) {
      last_housekeeping = now_;
      for (auto& c : conns_) c->ping_if_idle(now_);
    }
  }
  for (auto& c : conns_) c->close_gracefully();
}

}  // namespace wisp_bench
