// The Hub's REST API on a cpp-httplib server: the same routes and answers as tickcast-server.
#include <chrono>
#include <future>
#include <memory>

#include "common.h"
#include "tickcast/core/hub.h"
#include "tickcast/httplib/httplib_transport.h"

namespace tickcast::httplib {

namespace {

using json = nlohmann::ordered_json;
constexpr auto kHubTimeout = std::chrono::seconds(5);

json state_json(const TimerState& state) { return json::parse(encode_state(state)); }

void set_json(::httplib::Response& response, int status, const json& body) {
  response.status = status;
  response.set_content(body.dump(), "application/json");
  response.set_header("Cache-Control", "no-store");
}

// Waits for the hub's answer on this worker thread; the hub runs `done` on its strand.
template <typename T>
std::optional<T> await(std::future<T>& future) {
  if (future.wait_for(kHubTimeout) != std::future_status::ready) return std::nullopt;
  return future.get();
}

}  // namespace

void mount_rest(::httplib::Server& server, Hub& hub, std::string prefix) {
  const std::string base = detail::regex_escape(prefix);
  server.Post(base + "/([^/]*)/commands", [&hub](const ::httplib::Request& request,
                                                 ::httplib::Response& response) {
    if (detail::host_missing(request, response)) return;
    const std::string room = request.matches[1];
    if (!valid_room_name(room)) {
      detail::set_error(response, ErrorCode::bad_room, std::string(kBadRoomMessage),
                        decode_command(request.body).request_id);
      return;
    }
    if (request.body.size() > kMaxCommandBytes) {
      detail::set_error(response, ErrorCode::too_large, "commands are at most 4096 bytes");
      return;
    }
    auto promise = std::make_shared<std::promise<CommandOutcome>>();
    auto future = promise->get_future();
    hub.command(
        room, request.body,
        [promise](CommandOutcome outcome) { promise->set_value(std::move(outcome)); },
        request.remote_addr);
    const auto outcome = await(future);
    if (!outcome) {
      detail::set_error(response, ErrorCode::overloaded, "the hub did not answer in time");
      return;
    }
    if (outcome->error) {
      detail::set_error(response, outcome->error->code, outcome->error->message,
                        outcome->request_id);
      return;
    }
    json body = {{"success", true}, {"state", state_json(outcome->state)}};
    if (!outcome->request_id.empty()) body["request_id"] = outcome->request_id;
    set_json(response, 200, body);
  });

  server.Get(
      base + "/([^/]*)", [&hub](const ::httplib::Request& request, ::httplib::Response& response) {
        if (detail::host_missing(request, response)) return;
        const std::string room = request.matches[1];
        if (!valid_room_name(room)) {
          detail::set_error(response, ErrorCode::bad_room, std::string(kBadRoomMessage));
          return;
        }
        using Answer = std::pair<std::optional<Error>, Payload>;
        auto promise = std::make_shared<std::promise<Answer>>();
        auto future = promise->get_future();
        hub.snapshot(
            room,
            [promise](std::optional<Error> error, Payload payload) {
              promise->set_value({std::move(error), std::move(payload)});
            },
            request.remote_addr);
        const auto answer = await(future);
        if (!answer) {
          detail::set_error(response, ErrorCode::overloaded, "the hub did not answer in time");
        } else if (answer->first) {
          detail::set_error(response, answer->first->code, answer->first->message);
        } else {
          response.set_content(*answer->second, "application/json");
          response.set_header("Cache-Control", "no-store");
        }
      });

  server.Get(base, [&hub](const ::httplib::Request& request, ::httplib::Response& response) {
    if (detail::host_missing(request, response)) return;
    auto promise = std::make_shared<std::promise<std::vector<RoomSummary>>>();
    auto future = promise->get_future();
    hub.rooms([promise](std::vector<RoomSummary> rooms) { promise->set_value(std::move(rooms)); });
    const auto rooms = await(future);
    if (!rooms) {
      detail::set_error(response, ErrorCode::overloaded, "the hub did not answer in time");
      return;
    }
    json list = json::array();
    for (const auto& room : *rooms) {
      list.push_back({{"room", room.name}, {"seq", room.seq}, {"state", state_json(room.state)}});
    }
    set_json(response, 200, {{"rooms", list}});
  });
}

}  // namespace tickcast::httplib
