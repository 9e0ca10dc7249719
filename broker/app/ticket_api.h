// POST /api/v1/tickets: a browser app trades HTTP Basic credentials (checked against the
// password file, rate-limited per address like MQTT logins) for a short-lived ticket to use
// as `?ticket=` on the WebSocket URL. Answers JSON: 200 {"ticket": "...", "expires_in": N},
// 401 bad credentials, 405 other methods, 429 rate limited, 404 no tickets on the listener.
#pragma once

#include <functional>

#include "broker/security/security.h"
#include "broker/transport/server.h"

namespace broker::app {

inline constexpr const char* kTicketPath = "/api/v1/tickets";

// `security_of` gives the Security of the request's listener (nullptr: tickets unavailable);
// `lifetime_s` is reported as expires_in.
transport::HttpAnswer handle_ticket_request(
    const transport::HttpRequest& req,
    const std::function<security::Security*(const core::ListenerPolicy*)>& security_of,
    std::uint32_t lifetime_s);

}  // namespace broker::app
