// Broker: the session registry, fan-out routing, retained messages, wills, the tick sweep
// (keep alive, CONNECT deadline, will delay, session expiry) and $SYS publishing.
#include "broker/core/broker.h"

#include <algorithm>
#include <string>

#include "broker/core/engine.h"

namespace broker::core {

using protocol::QoS;
using protocol::ReasonCode;

const char* to_string(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::notice: return "notice";
    case LogLevel::warning: return "warning";
    case LogLevel::error: return "error";
  }
  return "?";
}

// ---- Broker (public shell) ----------------------------------------------------------------

Broker::Broker(BrokerConfig config, const Clock& clock)
    : impl_(std::make_unique<Impl>(std::move(config), clock)) {}
Broker::~Broker() = default;
void Broker::set_authenticator(Authenticator* a) noexcept { impl_->authenticator_ = a; }
void Broker::set_authorizer(Authorizer* a) noexcept { impl_->authorizer_ = a; }
void Broker::set_persistence(Persistence* p) noexcept {
  impl_->persistence_ = p;
  if (p != nullptr) impl_->load_persistence();
}
void Broker::set_logger(Logger* l) noexcept { impl_->logger_ = l; }
void Broker::tick() { impl_->tick(); }
void Broker::publish(MessageRef message) {
  if (message) impl_->publish_message(message);
}
const BrokerConfig& Broker::config() const noexcept { return impl_->config_; }
const BrokerStats& Broker::stats() const noexcept {
  impl_->stats_.clients_total = impl_->sessions_.size();
  impl_->stats_.retained_count = impl_->retained_.size();
  impl_->stats_.subscriptions_count = impl_->tree_.size();
  return impl_->stats_;
}
std::size_t Broker::connection_count() const noexcept { return impl_->connections_.size(); }

void Broker::shutdown() {
  Impl& b = *impl_;
  b.shutting_down_ = true;
  std::vector<Connection::Impl*> conns(b.connections_.begin(), b.connections_.end());
  for (Connection::Impl* c : conns) {
    if (!b.connections_.contains(c)) continue;
    if (c->state_ == Connection::Impl::State::awaiting_connect) {
      c->close(ReasonCode::server_shutting_down);
    } else {
      // The will is kept with the persistent session, not published: the client did
      // nothing wrong, and its session resumes after the restart.
      c->server_disconnect(ReasonCode::server_shutting_down, "server shutting down", false);
    }
  }
}

// ---- Broker::Impl -------------------------------------------------------------------------

Broker::Impl::Impl(BrokerConfig config, const Clock& clock)
    : config_(std::move(config)), clock_(clock), started_(clock.now()) {}

Broker::Impl::~Impl() {
  for (Connection::Impl* c : connections_) c->session_ = nullptr;
  for (auto& [id, s] : sessions_) s->conn = nullptr;
}

void Broker::Impl::log(LogLevel level, std::string_view line) {
  if (logger_ != nullptr) logger_->log(level, line);
}

std::string Broker::Impl::next_auto_id() {
  for (;;) {
    std::string id = config_.auto_id_prefix;
    id += std::to_string(started_.time_since_epoch().count() % 1000000);
    id += '-';
    id += std::to_string(++auto_id_counter_);
    if (!sessions_.contains(id)) return id;
  }
}

ClientIdentity Broker::Impl::identity(const Session& s) const {
  ClientIdentity who;
  who.client_id = s.client_id;
  if (s.username) who.username = *s.username;
  who.grants = s.grants.get();
  return who;
}

bool Broker::Impl::authorized(const Session& s, std::string_view topic, Access access) {
  if (authorizer_ == nullptr) return true;
  if (authorizer_->allowed(identity(s), topic, access)) return true;
  const char* what = "read";
  switch (access) {
    case Access::write: ++stats_.publish_denied, what = "publish"; break;
    case Access::subscribe: ++stats_.subscribe_denied, what = "subscribe"; break;
    case Access::read: ++stats_.read_denied; break;
  }
  if (logger_ != nullptr) {
    std::string line = "Denied ";
    line.append(what).append(" of '").append(topic).append("' to ").append(s.client_id);
    log(LogLevel::debug, line);
  }
  return false;
}

// ---- routing ------------------------------------------------------------------------------

bool Broker::Impl::publish_message(const MessageRef& msg) {
  bool stored = false;
  if (msg->retain) {
    if (msg->payload().empty()) {  // [MQTT-3.3.1-6/7] empty retained payload deletes
      if (retained_.erase(msg->topic) && persistence_ != nullptr) {
        persistence_->retained_delete(msg->topic);
        stored = true;
      }
    } else {
      retained_.set(msg);
      if (persistence_ != nullptr) {
        persistence_->retained_set(msg);
        stored = true;
      }
    }
  }
  return route(msg) || stored;
}

bool Broker::Impl::route(const MessageRef& msg) {
  ++route_epoch_;
  deliveries_.clear();
  const Message& m = *msg;
  auto visit = [&](const SubscriptionMatch& sm) {
    Session* s = Session::from_id(sm.session);
    // [MQTT-3.8.3-3] no local: not back to the publisher.
    if (sm.options.no_local && s->client_id == m.origin) return;
    const QoS q = min_qos(m.qos, sm.options.qos);
    if (!sm.share_group.empty()) {  // each shared subscription gets its own copy
      Delivery d;
      d.session = s;
      d.qos = q;
      d.retain_as_published = sm.options.retain_as_published;
      if (sm.options.subscription_id != 0) d.sub_ids.push_back(sm.options.subscription_id);
      d.share = sm.share_group;
      d.filter = sm.filter;
      deliveries_.push_back(std::move(d));
      return;
    }
    // Overlapping subscriptions: one delivery with the highest QoS and every subscription
    // identifier [MQTT-3.3.4-2], [MQTT-3.3.4-3], as Mosquitto does.
    if (s->route_epoch == route_epoch_) {
      Delivery& d = deliveries_[s->route_slot];
      if (q > d.qos) d.qos = q;
      d.retain_as_published = d.retain_as_published || sm.options.retain_as_published;
      if (sm.options.subscription_id != 0) {  // ascending: deterministic for clients
        const auto at =
            std::lower_bound(d.sub_ids.begin(), d.sub_ids.end(), sm.options.subscription_id);
        d.sub_ids.insert(at, sm.options.subscription_id);
      }
      return;
    }
    s->route_epoch = route_epoch_;
    s->route_slot = deliveries_.size();
    Delivery d;
    d.session = s;
    d.qos = q;
    d.retain_as_published = sm.options.retain_as_published;
    if (sm.options.subscription_id != 0) d.sub_ids.push_back(sm.options.subscription_id);
    deliveries_.push_back(std::move(d));
  };
  const bool qos0 = m.qos == QoS::at_most_once;
  auto eligible = [qos0](SessionId id) {
    const Session* s = Session::from_id(id);
    return s->online() && (qos0 || s->inflight.size() < s->inflight_limit());
  };
  tree_.match(m.topic, visit, eligible);
  last_matched_ = deliveries_.size();
  if (deliveries_.empty()) return false;
  if (m.expiry && *m.expiry <= now()) return false;
  bool stored = false;
  for (Delivery& d : deliveries_) {
    if (authorizer_ != nullptr && !authorized(*d.session, m.topic, Access::read)) continue;
    Outbound ob;
    ob.msg = msg;
    ob.qos = d.qos;
    ob.retain = d.retain_as_published && m.retain;  // [MQTT-3.3.1-9], [MQTT-3.3.1-12]
    ob.sub_ids = std::move(d.sub_ids);
    if (!d.share.empty()) {
      ob.share = "$share/";
      ob.share += d.share;
      ob.share += '/';
      ob.share += d.filter;
    }
    stored = deliver(*d.session, std::move(ob)) || stored;
  }
  return stored;
}

namespace {

protocol::PacketId next_packet_id(Session& s) {
  for (;;) {
    const protocol::PacketId id = s.next_id;
    s.next_id = static_cast<protocol::PacketId>(s.next_id == 65535 ? 1 : s.next_id + 1);
    if (!s.inflight.contains(id)) return id;
  }
}

StoredOutbound to_stored(const Outbound& ob) {
  StoredOutbound so;
  so.message = ob.msg;
  so.qos = ob.qos;
  so.retain = ob.retain;
  so.id = ob.id;
  so.state = ob.state;
  so.subscription_ids = ob.sub_ids;
  return so;
}

std::size_t queue_cost(const Outbound& ob) {
  return ob.msg ? ob.msg->topic.size() + ob.msg->bytes.size() : 0;
}

}  // namespace

bool Broker::Impl::deliver(Session& s, Outbound ob) {
  Connection::Impl* c = s.conn;
  const bool live = c != nullptr && c->state_ == Connection::Impl::State::connected;
  const bool persist = persistence_ != nullptr && s.persistent();
  if (live) {
    // [MQTT-3.1.2-25] never send a packet larger than the client's Maximum Packet Size.
    const std::size_t size = c->publish_size(*ob.msg, ob.qos, ob.sub_ids);
    if (!c->fits_client(size)) {
      ++stats_.publish_dropped;
      return false;
    }
    if (s.queue.empty()) {
      if (ob.qos == QoS::at_most_once) {
        if (c->can_send_qos0()) {
          c->push_publish(std::move(ob), size);
          return false;
        }
        if (!ob.retained_delivery) {
          ++stats_.publish_dropped;  // slow reader: QoS 0 is dropped above high water
          return false;
        }
      } else if (s.inflight.size() < s.inflight_limit()) {
        ob.id = next_packet_id(s);
        ob.seq = s.next_seq++;
        if (persist) persistence_->inflight_set(s.client_id, to_stored(ob));
        c->push_publish(ob, size);
        s.inflight.emplace(ob.id, std::move(ob));
        return persist;
      }
    } else if (ob.qos == QoS::at_most_once && !ob.retained_delivery && !c->can_send_qos0()) {
      ++stats_.publish_dropped;
      return false;
    }
  } else if (ob.qos == QoS::at_most_once && !ob.retained_delivery && !config_.queue_qos0_messages) {
    return false;  // QoS 0 is not kept for offline sessions
  }
  const std::size_t cost = queue_cost(ob);
  if (!ob.retained_delivery) {
    if ((config_.max_queued_messages != 0 && s.queued_limited >= config_.max_queued_messages) ||
        (config_.max_queued_bytes != 0 && s.queued_bytes + cost > config_.max_queued_bytes)) {
      ++stats_.publish_dropped;
      return false;
    }
    ++s.queued_limited;
  }
  s.queued_bytes += cost;
  ob.seq = s.next_seq++;
  bool stored = false;
  if (persist && ob.qos != QoS::at_most_once) {
    persistence_->queue_push(s.client_id, ob.seq, to_stored(ob));
    stored = true;
  }
  s.queue.push_back(std::move(ob));
  return stored;
}

void Broker::Impl::drain(Session& s) {
  Connection::Impl* c = s.conn;
  if (c == nullptr || c->state_ != Connection::Impl::State::connected) return;
  const bool persist = persistence_ != nullptr && s.persistent();
  const TimePoint t = now();
  while (!s.queue.empty()) {
    Outbound& front = s.queue.front();
    if (front.qos == QoS::at_most_once) {
      if (!c->can_send_qos0()) break;
    } else if (s.inflight.size() >= s.inflight_limit()) {
      break;
    }
    Outbound ob = std::move(front);
    s.queue.pop_front();
    if (!ob.retained_delivery && s.queued_limited > 0) --s.queued_limited;
    s.queued_bytes -= std::min(s.queued_bytes, queue_cost(ob));
    if (persist && ob.qos != QoS::at_most_once) persistence_->queue_pop(s.client_id, ob.seq);
    if (ob.msg->expiry && *ob.msg->expiry <= t) continue;  // [MQTT-3.3.2-5]
    const std::size_t size = c->publish_size(*ob.msg, ob.qos, ob.sub_ids);
    if (!c->fits_client(size)) {
      ++stats_.publish_dropped;
      continue;
    }
    if (ob.qos == QoS::at_most_once) {
      c->push_publish(std::move(ob), size);
      continue;
    }
    ob.id = next_packet_id(s);
    if (persist) persistence_->inflight_set(s.client_id, to_stored(ob));
    c->push_publish(ob, size);
    s.inflight.emplace(ob.id, std::move(ob));
  }
}

void Broker::Impl::deliver_retained(Session& s, std::string_view filter, QoS granted) {
  std::vector<MessageRef> hits;
  bool expired = false;
  const TimePoint t = now();
  retained_.match(filter, [&](const MessageRef& m) {
    if (m->expiry && *m->expiry <= t) {
      expired = true;
      return;
    }
    hits.push_back(m);
  });
  if (expired) {
    retained_.erase_if([t](const MessageRef& m) { return m->expiry && *m->expiry <= t; });
  }
  for (MessageRef& m : hits) {
    if (authorizer_ != nullptr && !authorized(s, m->topic, Access::read)) continue;
    Outbound ob;
    ob.qos = min_qos(m->qos, granted);
    ob.msg = std::move(m);
    ob.retain = true;  // [MQTT-3.3.1-8] retained messages sent on subscribe keep RETAIN
    ob.retained_delivery = true;
    deliver(s, std::move(ob));
  }
}

// ---- sessions -----------------------------------------------------------------------------

Session* Broker::Impl::find_session(std::string_view client_id) {
  auto it = sessions_.find(client_id);
  return it == sessions_.end() ? nullptr : it->second.get();
}

Session& Broker::Impl::create_session(std::string client_id) {
  auto s = std::make_unique<Session>(client_id);
  Session& ref = *s;
  sessions_.emplace(std::move(client_id), std::move(s));
  return ref;
}

void Broker::Impl::end_session(Session& s) {
  if (s.will && s.will_due) publish_will(s);  // [MQTT-3.1.3-9] session end fires the will
  tree_.unsubscribe_all(s.id());
  if (persistence_ != nullptr) persistence_->session_delete(s.client_id);
  const std::string id = s.client_id;
  sessions_.erase(id);
}

void Broker::Impl::session_offline(Session& s, bool abnormal) {
  if (!abnormal) s.will.reset();  // [MQTT-3.1.2-10] normal disconnect discards the will
  redeliver_shared(s);
  const TimePoint t = now();
  if (s.will) s.will_due = t + std::chrono::seconds(s.will_delay_s);
  if (!s.persistent()) {
    end_session(s);  // publishes the will at once: the session ends now
    return;
  }
  s.expires_at.reset();
  if (s.expiry_s) s.expires_at = t + std::chrono::seconds(*s.expiry_s);
  if (s.will && s.will_delay_s == 0) publish_will(s);
  persist_session(s);
}

void Broker::Impl::publish_will(Session& s) {
  MessageRef m = std::move(s.will);
  s.will.reset();
  s.will_due.reset();
  if (!m) return;
  if (s.will_expiry_s) {
    auto copy = std::make_shared<Message>(*m);
    copy->expiry = now() + std::chrono::seconds(*s.will_expiry_s);
    m = std::move(copy);
  }
  if (!authorized(s, m->topic, Access::write)) return;
  ++stats_.messages_received;
  publish_message(m);
}

void Broker::Impl::redeliver_shared(Session& s) {
  // [MQTT-4.8.2] a member that leaves hands its unacknowledged shared messages to another
  // member that is online; with none online they stay for its own return.
  auto pick_online = [this, &s](const Outbound& ob) -> std::optional<SubscriptionMatch> {
    auto online = [](SessionId id) { return Session::from_id(id)->online(); };
    auto m = tree_.pick_shared(ob.share, s.id(), online);
    if (!m || !Session::from_id(m->session)->online()) return std::nullopt;
    return m;
  };
  const bool persist = persistence_ != nullptr && s.persistent();
  std::vector<protocol::PacketId> moved_ids;
  for (auto& [id, ob] : s.inflight) {
    if (ob.share.empty() || ob.state != InflightState::publish_sent || !ob.msg) continue;
    auto m = pick_online(ob);
    if (!m) continue;
    Session& to = *Session::from_id(m->session);
    Outbound copy;
    copy.msg = ob.msg;
    copy.qos = min_qos(ob.msg->qos, m->options.qos);
    copy.retain = ob.retain;
    if (m->options.subscription_id != 0) copy.sub_ids.push_back(m->options.subscription_id);
    copy.share = ob.share;
    moved_ids.push_back(id);
    deliver(to, std::move(copy));
  }
  for (protocol::PacketId id : moved_ids) {
    s.inflight.erase(id);
    if (persist) persistence_->inflight_clear(s.client_id, id);
  }
  for (auto it = s.queue.begin(); it != s.queue.end();) {
    if (it->share.empty() || !it->msg) {
      ++it;
      continue;
    }
    auto m = pick_online(*it);
    if (!m) {
      ++it;
      continue;
    }
    Session& to = *Session::from_id(m->session);
    Outbound copy;
    copy.msg = it->msg;
    copy.qos = min_qos(it->msg->qos, m->options.qos);
    copy.retain = it->retain;
    if (m->options.subscription_id != 0) copy.sub_ids.push_back(m->options.subscription_id);
    copy.share = it->share;
    if (!it->retained_delivery && s.queued_limited > 0) --s.queued_limited;
    s.queued_bytes -= std::min(s.queued_bytes, queue_cost(*it));
    if (persist && it->qos != QoS::at_most_once) persistence_->queue_pop(s.client_id, it->seq);
    it = s.queue.erase(it);
    deliver(to, std::move(copy));
  }
}

void Broker::Impl::persist_session(Session& s) {
  if (persistence_ == nullptr || !s.persistent()) return;
  StoredSession st;
  st.client_id = s.client_id;
  st.version = s.version;
  st.expiry_s = s.expiry_s;
  if (!s.online()) st.disconnected_at = now();
  tree_.for_each_of(s.id(), [&](const SubscriptionMatch& m) {
    StoredSubscription sub;
    if (!m.share_group.empty()) {
      sub.filter = "$share/";
      sub.filter += m.share_group;
      sub.filter += '/';
    }
    sub.filter += m.filter;
    sub.options.qos = m.options.qos;
    sub.options.no_local = m.options.no_local;
    sub.options.retain_as_published = m.options.retain_as_published;
    sub.options.retain_handling = m.options.retain_handling;
    sub.subscription_id = m.options.subscription_id;
    st.subscriptions.push_back(std::move(sub));
  });
  if (s.will) st.will = StoredWill{s.will, s.will_delay_s};
  persistence_->session_upsert(st);
}

void Broker::Impl::load_persistence() {
  LoadedState loaded = persistence_->load();
  for (MessageRef& m : loaded.retained) {
    if (m && !m->payload().empty()) retained_.set(std::move(m));
  }
  const TimePoint t = now();
  for (StoredSession& st : loaded.sessions) {
    if (st.client_id.empty() || sessions_.contains(st.client_id)) continue;
    Session& s = create_session(st.client_id);
    s.version = st.version;
    s.expiry_s = st.expiry_s;
    const TimePoint since = st.disconnected_at.value_or(t);
    if (s.expiry_s) s.expires_at = since + std::chrono::seconds(*s.expiry_s);
    for (const StoredSubscription& sub : st.subscriptions) {
      SubscriberOptions o;
      o.qos = sub.options.qos;
      o.no_local = sub.options.no_local;
      o.retain_as_published = sub.options.retain_as_published;
      o.retain_handling = sub.options.retain_handling;
      o.subscription_id = sub.subscription_id;
      tree_.subscribe(sub.filter, s.id(), o);
    }
    if (st.will && st.will->message) {
      s.will = st.will->message;
      s.will_delay_s = st.will->delay_s;
      s.will_due = since + std::chrono::seconds(s.will_delay_s);
    }
    for (StoredOutbound& so : st.outbound) {
      // Only a QoS 2 flow past PUBREC may come without its message.
      if (!so.message && !(so.id != 0 && so.state == InflightState::pubrec_received)) continue;
      Outbound ob;
      ob.msg = so.message;
      ob.qos = so.qos;
      ob.retain = so.retain;
      ob.id = so.id;
      ob.state = so.state;
      ob.sub_ids = std::move(so.subscription_ids);
      ob.seq = s.next_seq++;
      if (so.id != 0) {
        ob.dup = true;
        s.inflight.emplace(so.id, std::move(ob));
      } else if (ob.msg) {
        s.queued_bytes += queue_cost(ob);
        ++s.queued_limited;
        s.queue.push_back(std::move(ob));
      }
    }
    for (protocol::PacketId id : st.incoming_qos2) s.incoming_qos2.insert(id);
  }
}

// ---- tick ---------------------------------------------------------------------------------

void Broker::Impl::tick() {
  const TimePoint t = now();
  std::vector<Connection::Impl*> conns(connections_.begin(), connections_.end());
  for (Connection::Impl* c : conns) {
    if (!connections_.contains(c)) continue;
    using State = Connection::Impl::State;
    if (c->state_ == State::awaiting_connect) {
      if (t - c->created_ >= config_.connect_timeout) {
        c->close_reason_ = "no CONNECT in time";
        c->log_line("rejected", c->close_reason_);
        c->close(ReasonCode::maximum_connect_time);
      }
      continue;
    }
    if (c->state_ != State::connected) continue;
    // [MQTT-3.1.2-24] nothing received for 1.5 x keep alive: the client is gone.
    if (c->keep_alive_s_ != 0 &&
        t - c->last_rx_ > std::chrono::milliseconds(std::uint64_t{c->keep_alive_s_} * 1500)) {
      c->server_disconnect(ReasonCode::keep_alive_timeout, "keep alive timeout", true);
      c->detach(true);
      continue;
    }
    if (c->credentials_expire_ && *c->credentials_expire_ <= t) {
      c->server_disconnect(ReasonCode::not_authorized, "credentials expired", true);
      c->detach(true);
    }
  }
  {  // will delay and session expiry: every tick, so timing follows the tick period
    std::vector<Session*> expired;
    std::vector<Session*> wills;
    for (auto& [id, s] : sessions_) {
      if (s->online()) continue;
      if (s->expires_at && *s->expires_at <= t) {
        expired.push_back(s.get());
      } else if (s->will && s->will_due && *s->will_due <= t) {
        wills.push_back(s.get());
      }
    }
    for (Session* s : wills) {
      publish_will(*s);
      persist_session(*s);
    }
    for (Session* s : expired) end_session(*s);
  }
  if (config_.sys_interval.count() > 0 && (!next_sys_ || t >= *next_sys_)) {
    next_sys_ = t + config_.sys_interval;
    retained_.erase_if([t](const MessageRef& m) { return m->expiry && *m->expiry <= t; });
    publish_sys();
  }
}

void Broker::Impl::publish_sys() {
  const TimePoint t = now();
  stats_.clients_total = sessions_.size();
  stats_.retained_count = retained_.size();
  stats_.subscriptions_count = tree_.size();
  std::size_t connected = 0;
  for (const auto& [id, s] : sessions_) connected += s->online() ? 1 : 0;
  auto pub = [&](std::string_view topic, const std::string& value) {
    auto m = std::make_shared<Message>();
    m->topic = "$SYS/broker/";
    m->topic += topic;
    m->retain = true;
    m->bytes.assign(value.begin(), value.end());
    publish_message(m);
  };
  auto num = [](std::uint64_t v) { return std::to_string(v); };
  const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(t - started_).count();
  pub("version", config_.version);
  pub("uptime", std::to_string(uptime) + " seconds");
  pub("clients/connected", num(connected));
  pub("clients/active", num(connected));
  pub("clients/disconnected", num(sessions_.size() - connected));
  pub("clients/total", num(sessions_.size()));
  pub("messages/received", num(stats_.messages_received));
  pub("messages/sent", num(stats_.messages_sent));
  pub("publish/messages/received", num(stats_.messages_received));
  pub("publish/messages/sent", num(stats_.messages_sent));
  pub("publish/messages/dropped", num(stats_.publish_dropped));
  pub("publish/messages/denied", num(stats_.publish_denied));
  pub("subscriptions/denied", num(stats_.subscribe_denied));
  pub("messages/read_denied", num(stats_.read_denied));
  pub("bytes/received", num(stats_.bytes_received));
  pub("bytes/sent", num(stats_.bytes_sent));
  pub("load/bytes/received", num(stats_.bytes_received));
  pub("load/bytes/sent", num(stats_.bytes_sent));
  pub("retained messages/count", num(retained_.size()));
  pub("subscriptions/count", num(tree_.size()));
}

}  // namespace broker::core
