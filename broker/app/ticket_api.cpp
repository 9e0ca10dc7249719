#include "broker/app/ticket_api.h"

#include <spdlog/spdlog.h>

#include <string>

#include "broker/security/login_rate_limiter.h"
#include "tls/base64.h"

namespace broker::app {

namespace {

transport::HttpAnswer json(int status, std::string body) {
  transport::HttpAnswer a;
  a.status = status;
  a.body = std::move(body);
  a.body += "\n";
  return a;
}

transport::HttpAnswer error(int status, std::string_view message) {
  return json(status, "{\"error\":\"" + std::string(message) + "\"}");
}

transport::HttpAnswer unauthorized(std::string_view message) {
  auto a = error(401, message);
  a.headers.emplace_back("WWW-Authenticate", "Basic realm=\"wisp\", charset=\"UTF-8\"");
  return a;
}

// "Basic base64(user:password)" -> (user, password).
std::optional<std::pair<std::string, std::string>> basic_credentials(std::string_view h) {
  constexpr std::string_view kBasic = "basic ";
  if (h.size() <= kBasic.size()) return std::nullopt;
  for (std::size_t i = 0; i < kBasic.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(h[i])) != kBasic[i]) return std::nullopt;
  }
  h.remove_prefix(kBasic.size());
  while (!h.empty() && h.front() == ' ') h.remove_prefix(1);
  auto raw = tls::base64_decode(h);
  if (!raw) return std::nullopt;
  const std::string text(raw->begin(), raw->end());
  const auto colon = text.find(':');
  if (colon == std::string::npos || colon == 0) return std::nullopt;
  return std::make_pair(text.substr(0, colon), text.substr(colon + 1));
}

}  // namespace

transport::HttpAnswer handle_ticket_request(
    const transport::HttpRequest& req,
    const std::function<security::Security*(const core::ListenerPolicy*)>& security_of,
    std::uint32_t lifetime_s) {
  security::Security* sec = security_of(req.listener);
  if (!sec || !sec->tickets_enabled() || !sec->has_password_file()) {
    return error(404, "tickets are not available on this listener");
  }
  if (req.method != "POST") {
    auto a = error(405, "use POST");
    a.headers.emplace_back("Allow", "POST");
    return a;
  }
  if (sec->rate_limiter().blocked(req.remote_address)) {
    spdlog::warn("ticket request from {} refused: too many failed logins", req.remote_address);
    auto a = error(429, "too many failed logins");
    a.headers.emplace_back("Retry-After", "60");
    return a;
  }
  auto creds = basic_credentials(req.authorization);
  if (!creds) return unauthorized("HTTP Basic credentials required");
  auto ticket = sec->issue_ticket(creds->first, creds->second, req.remote_address);
  if (!ticket) {
    spdlog::warn("ticket request for user '{}' from {} refused: {}", creds->first,
                 req.remote_address, ticket.error().message);
    if (ticket.error().message.find("password") != std::string::npos ||
        ticket.error().message.find("failed logins") != std::string::npos) {
      return unauthorized("bad username or password");
    }
    return error(500, "cannot issue a ticket");
  }
  spdlog::info("ticket issued for user '{}' to {}", creds->first, req.remote_address);
  return json(200, "{\"ticket\":\"" + ticket.value() +
                       "\",\"expires_in\":" + std::to_string(lifetime_s) + "}");
}

}  // namespace broker::app
