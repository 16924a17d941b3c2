#include "tickcast/core/rest.h"

#include <nlohmann/json.hpp>

namespace tickcast {

namespace {

using json = nlohmann::ordered_json;

RestAnswer ok(const json& body) {
  return RestAnswer{200, body.dump(), {{"cache-control", "no-store"}}};
}

json state_json(const TimerState& state) { return json::parse(encode_state(state)); }

}  // namespace

RestAnswer RestApi::error(const Error& error, std::string_view request_id) {
  RestAnswer answer{error.http_status ? error.http_status : http_status(error.code),
                    encode_error(error, request_id),
                    {}};
  if (answer.status == 401) answer.headers.emplace_back("www-authenticate", "Bearer");
  return answer;
}

void RestApi::command(const std::string& room, std::string body, std::string peer, RestDone done,
                      std::optional<Error> refused) {
  if (!valid_room_name(room)) {
    done(error(Error{ErrorCode::bad_room, std::string(kBadRoomMessage)},
               decode_command(body).request_id));
    return;
  }
  if (refused) {
    done(error(*refused, decode_command(body).request_id));
    return;
  }
  if (body.size() > max_command_bytes_) {
    done(error(Error{ErrorCode::too_large,
                     "commands are at most " + std::to_string(max_command_bytes_) + " bytes"}));
    return;
  }
  hub_.command(
      room, std::move(body),
      [done = std::move(done)](CommandOutcome outcome) {
        if (outcome.error) {
          done(error(*outcome.error, outcome.request_id));
          return;
        }
        json answer = {{"success", true}, {"state", state_json(outcome.state)}};
        if (!outcome.request_id.empty()) answer["request_id"] = outcome.request_id;
        done(ok(answer));
      },
      std::move(peer));
}

void RestApi::snapshot(const std::string& room, std::string peer, RestDone done,
                       std::optional<Error> refused) {
  if (!valid_room_name(room)) {
    done(error(Error{ErrorCode::bad_room, std::string(kBadRoomMessage)}));
    return;
  }
  if (refused) {
    done(error(*refused));
    return;
  }
  hub_.snapshot(
      room,
      [done = std::move(done)](const std::optional<Error>& failed, const Payload& payload) {
        if (failed) {
          done(error(*failed));
          return;
        }
        done(RestAnswer{200, *payload, {{"cache-control", "no-store"}}});
      },
      std::move(peer));
}

void RestApi::rooms(RestDone done, std::function<bool(const std::string&)> shown) {
  hub_.rooms([done = std::move(done),
              shown = std::move(shown)](const std::vector<RoomSummary>& rooms) {
    json list = json::array();
    for (const auto& room : rooms) {
      if (shown && !shown(room.name)) continue;
      list.push_back({{"room", room.name}, {"seq", room.seq}, {"state", state_json(room.state)}});
    }
    done(ok({{"rooms", list}}));
  });
}

}  // namespace tickcast
