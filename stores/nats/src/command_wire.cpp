#include "command_wire.h"

#include <nlohmann/json.hpp>

#include "record_codec.h"

namespace tickcast::nats {

using json = nlohmann::json;

namespace {

constexpr int kLastErrorCode = static_cast<int>(ErrorCode::method_not_allowed);
constexpr int kLastPhase = static_cast<int>(Phase::long_break);

}  // namespace

std::string encode_request(const ForwardedRequest& request) {
  return json{{"join", request.join},
              {"room", request.room},
              {"payload", request.payload},
              {"peer", request.peer},
              {"id", request.id}}
      .dump();
}

std::optional<ForwardedRequest> decode_request(const std::string& text) {
  const json j = json::parse(text, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  try {
    return ForwardedRequest{j.at("join").get<bool>(), j.at("room").get<std::string>(),
                            j.at("payload").get<std::string>(), j.at("peer").get<std::string>(),
                            j.value("id", std::string())};
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

std::string encode_reply(const ForwardedReply& reply) {
  const CommandOutcome& o = reply.outcome;
  json j = {{"request_id", o.request_id},
            {"state",
             {{"phase", static_cast<int>(o.state.phase)},
              {"running", o.state.running},
              {"remaining_ms", o.state.remaining.count()},
              {"duration_ms", o.state.duration.count()},
              {"completed_work", o.state.completed_work}}}};
  if (o.error) {
    j["error"] = {{"code", static_cast<int>(o.error->code)},
                  {"message", o.error->message},
                  {"http_status", o.error->http_status}};
  }
  if (reply.record) j["record"] = encode_record(*reply.record);
  return j.dump();
}

std::optional<ForwardedReply> decode_reply(const std::string& text) {
  const json j = json::parse(text, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  try {
    ForwardedReply reply;
    CommandOutcome& o = reply.outcome;
    o.request_id = j.at("request_id").get<std::string>();
    const json& s = j.at("state");
    const int phase = s.at("phase").get<int>();
    if (phase < 0 || phase > kLastPhase) return std::nullopt;
    o.state.phase = static_cast<Phase>(phase);
    o.state.running = s.at("running").get<bool>();
    o.state.remaining = Millis(s.at("remaining_ms").get<Millis::rep>());
    o.state.duration = Millis(s.at("duration_ms").get<Millis::rep>());
    o.state.completed_work = s.at("completed_work").get<int>();
    if (j.contains("error")) {
      const json& e = j.at("error");
      const int code = e.at("code").get<int>();
      if (code < 0 || code > kLastErrorCode) return std::nullopt;
      o.error = Error{static_cast<ErrorCode>(code), e.at("message").get<std::string>(),
                      e.at("http_status").get<int>()};
    }
    if (j.contains("record")) {
      reply.record = decode_record(j.at("record").get<std::string>());
      if (!reply.record) return std::nullopt;
    }
    return reply;
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

}  // namespace tickcast::nats
