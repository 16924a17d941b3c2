#include "tickcast/http/server.h"

#include "tickcast/http/internal/loop.h"

namespace tickcast::http {

// The body is the app's (ServerOptions::failure_body), so a client parses one error shape
// whatever the transport.
Response failure_response(const Failure& failure, const FailureEncoder& encoder,
                          std::string_view request) {
  Response response;
  response.status = failure.http_status ? failure.http_status : http_status(failure.code);
  response.body = encode_with(encoder, failure, request);
  if (failure.code == FailureCode::overloaded) response.headers.emplace_back("retry-after", "5");
  if (response.status == 401) response.headers.emplace_back("www-authenticate", "Bearer");
  return response;
}

void Responder::respond(Response response) const {
  auto loop = loop_.lock();
  if (!loop) return;
  loop->post([weak = loop_, id = exchange_id_, response = std::move(response)]() mutable {
    if (auto loop = weak.lock()) loop->respond(id, std::move(response));
  });
}

Server::Server(ServerOptions options)
    : options_(options), loop_(std::make_shared<internal::Loop>(std::move(options))) {}

Server::~Server() { stop(); }

void Server::route(std::string method, std::string_view pattern, Handler handler) {
  loop_->route(std::move(method), pattern, std::move(handler));
}

void Server::start() { loop_->start(); }

void Server::stop() { loop_->stop(); }

int Server::port() const { return loop_->port(); }

std::string Server::reload_tls() { return loop_->reload_tls(); }

std::string Server::base_url() const {
  return (options_.tls() ? "https://" : "http://") + options_.host + ":" +
         std::to_string(loop_->port());
}

std::string Server::websocket_base_url() const {
  return (options_.tls() ? "wss://" : "ws://") + options_.host + ":" +
         std::to_string(loop_->port());
}

}  // namespace tickcast::http
