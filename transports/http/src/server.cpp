#include "tickcast/http/server.h"

#include "tickcast/core/protocol.h"
#include "tickcast/http/internal/loop.h"

namespace tickcast::http {

// The body is the contract's error event, as ws and mqtt send it, so a client parses one
// error shape whatever the transport.
Response json_error(ErrorCode code, std::string_view message, std::string_view request_id) {
  Response response;
  response.status = http_status(code);
  response.body = encode_error(Error{code, std::string(message)}, request_id);
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

void Server::route(std::string method, std::string pattern, Handler handler) {
  loop_->route(std::move(method), std::move(pattern), std::move(handler));
}

void Server::start() { loop_->start(); }

void Server::stop() { loop_->stop(); }

int Server::port() const { return loop_->port(); }

std::string Server::base_url() const {
  return "http://" + options_.host + ":" + std::to_string(loop_->port());
}

}  // namespace tickcast::http
