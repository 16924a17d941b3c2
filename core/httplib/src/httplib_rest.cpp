#include "tickcast/core/httplib_rest.h"

#include <httplib.h>

#include <future>
#include <memory>

namespace tickcast {
namespace {

// A blocking cpp-httplib handler around one RestApi call: the worker waits for the answer.
template <class Call>
auto blocking(Call call, std::chrono::milliseconds wait) {
  return [call, wait](const ::httplib::Request& request, ::httplib::Response& response) {
    auto promise = std::make_shared<std::promise<RestAnswer>>();
    auto future = promise->get_future();
    call(request, [promise](RestAnswer answer) { promise->set_value(std::move(answer)); });
    RestAnswer answer =
        future.wait_for(wait) == std::future_status::ready
            ? future.get()
            : RestApi::error({ErrorCode::overloaded, "the hub did not answer in time"});
    response.status = answer.status;
    for (const auto& [name, value] : answer.headers) response.set_header(name, value);
    response.set_content(answer.body, "application/json");
  };
}

}  // namespace

void mount_rest(::httplib::Server& server, RestApi& rest, std::chrono::milliseconds wait) {
  server.Post(R"(/api/rooms/([^/]*)/commands)",
              blocking(
                  [&rest](const ::httplib::Request& request, RestDone done) {
                    rest.command(request.matches[1], request.body, request.remote_addr,
                                 std::move(done));
                  },
                  wait));
  server.Get(R"(/api/rooms/([^/]*))",
             blocking(
                 [&rest](const ::httplib::Request& request, RestDone done) {
                   rest.snapshot(request.matches[1], request.remote_addr, std::move(done));
                 },
                 wait));
  server.Get("/api/rooms", blocking([&rest](const ::httplib::Request&,
                                            RestDone done) { rest.rooms(std::move(done)); },
                                    wait));
}

}  // namespace tickcast
