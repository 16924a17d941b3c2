#pragma once
// What a follower sends the writer over NATS request/reply, and what comes back: a command
// (or a join of a room the follower has not seen) and its outcome, as JSON.

#include <optional>
#include <string>

#include "tickcast/core/writer_link.h"

namespace tickcast::nats {

/// ForwardedRequest is a command (`payload` set) or a join (`join`) of `room` for `peer`.
struct ForwardedRequest {
  bool join = false;
  std::string room;
  std::string payload;
  std::string peer;
  /// id: the sender's id of a command, the same in every copy it sends (the writer runs a
  /// command once per id); empty for a join.
  std::string id;
};

/// ForwardedReply is the writer's answer: the command's outcome, or a join's record.
struct ForwardedReply {
  CommandOutcome outcome;
  std::optional<RoomRecord> record;
};

std::string encode_request(const ForwardedRequest& request);
/// decode_request returns nullopt for a malformed request.
std::optional<ForwardedRequest> decode_request(const std::string& json);
std::string encode_reply(const ForwardedReply& reply);
/// decode_reply returns nullopt for a malformed reply.
std::optional<ForwardedReply> decode_reply(const std::string& json);

}  // namespace tickcast::nats
