#include "broker/app/auth_router.h"

namespace broker::app {

namespace {

// The authorizing Security of a client, plus that Security's own grants (a ticket's lists).
class RoutedGrants final : public core::Grants {
 public:
  RoutedGrants(security::Security* o, std::shared_ptr<const core::Grants> g)
      : owner(o), inner(std::move(g)) {}
  security::Security* owner;
  std::shared_ptr<const core::Grants> inner;
};

class RoutedExchange final : public core::AuthExchange {
 public:
  explicit RoutedExchange(security::Security* o) : owner(o) {}
  security::Security* owner;
  std::unique_ptr<core::AuthExchange> inner;
};

}  // namespace

void AuthRouter::add(const core::ListenerPolicy* listener,
                     std::unique_ptr<security::Security> security) {
  by_listener_[listener] = std::move(security);
}

protocol::Status AuthRouter::reload() {
  protocol::Status first = protocol::ok();
  for (auto& [listener, sec] : by_listener_) {
    if (auto st = sec->reload(); !st && first) {
      first =
          protocol::fail((listener ? listener->name + ": " : std::string()) + st.error().message);
    }
  }
  return first;
}

security::Security* AuthRouter::of(const core::ListenerPolicy* listener) const {
  auto it = by_listener_.find(listener);
  return it == by_listener_.end() ? nullptr : it->second.get();
}

void AuthRouter::route(core::AuthDecision& d, security::Security* owner) const {
  if (d.reason != protocol::ReasonCode::success) return;
  d.grants = std::make_shared<RoutedGrants>(owner, std::move(d.grants));
}

core::AuthDecision AuthRouter::authenticate(const core::AuthRequest& req) {
  security::Security* sec = of(req.listener);
  if (!sec) {  // every listener is added; refuse rather than guess
    core::AuthDecision d;
    d.reason = protocol::ReasonCode::not_authorized;
    d.log_detail = "no security settings for this listener";
    return d;
  }
  auto d = sec->authenticate(req);
  route(d, sec);
  return d;
}

bool AuthRouter::allowed(const core::ClientIdentity& who, std::string_view topic,
                         core::Access access) {
  const auto* routed = dynamic_cast<const RoutedGrants*>(who.grants);
  if (!routed || !routed->owner) return false;
  core::ClientIdentity inner = who;
  inner.grants = routed->inner.get();
  return routed->owner->allowed(inner, topic, access);
}

bool AuthRouter::supports_method(std::string_view method) const {
  for (const auto& [listener, sec] : by_listener_) {
    if (sec->supports_method(method)) return true;
  }
  return false;
}

core::AuthStep AuthRouter::start_auth(const core::AuthRequest& req,
                                      std::unique_ptr<core::AuthExchange>& exchange) {
  security::Security* sec = of(req.listener);
  if (!sec || !sec->supports_method(req.auth_method.value_or(""))) {
    core::AuthStep s;
    s.decision.reason = protocol::ReasonCode::bad_authentication_method;
    return s;
  }
  auto routed = std::make_unique<RoutedExchange>(sec);
  auto step = sec->start_auth(req, routed->inner);
  route(step.decision, sec);
  exchange = std::move(routed);
  return step;
}

core::AuthStep AuthRouter::continue_auth(core::AuthExchange& exchange, protocol::ByteSpan data) {
  auto* routed = dynamic_cast<RoutedExchange*>(&exchange);
  if (!routed || !routed->inner) {
    core::AuthStep s;
    s.decision.reason = protocol::ReasonCode::not_authorized;
    s.decision.log_detail = "enhanced authentication state from another authenticator";
    return s;
  }
  auto step = routed->owner->continue_auth(*routed->inner, data);
  route(step.decision, routed->owner);
  return step;
}

}  // namespace broker::app
