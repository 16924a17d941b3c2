#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace tickcast {

/// Payload is an encoded event: serialised once, shared read-only by every transport.
using Payload = std::shared_ptr<const std::string>;

/// make_payload wraps bytes into a shared Payload.
inline Payload make_payload(std::string bytes) {
  return std::make_shared<const std::string>(std::move(bytes));
}

/// MessageKind says what a message is to its room's sequence.
enum class MessageKind {
  event,     ///< a room event, number `seq` of the room's sequence
  snapshot,  ///< the room's state as of event `seq` (a join or resume answer)
  error,     ///< a reply to one client, outside the sequence
};

/// Message is what a transport carries: an opaque payload plus the little it must know
/// to frame and queue it.
struct Message {
  /// seq is the room's sequence number (SSE `id:`, long-poll `next`); 0 for errors.
  std::uint64_t seq = 0;
  Payload payload;  ///< the encoded event, shared by every transport and client
  /// droppable marks a message that a newer one supersedes (a tick): a slow client's
  /// full queue drops these first and never drops the others (state changes).
  bool droppable = false;
  MessageKind kind = MessageKind::event;  ///< event, snapshot or error
};

}  // namespace tickcast
