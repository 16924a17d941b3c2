#pragma once
// How a room's record and name are written in JetStream: the record as JSON, the name in
// hex (room names may hold characters a subject or key cannot).

#include <optional>
#include <string>

#include "tickcast/core/room_store.h"

namespace tickcast::nats {

std::string hex_encode(const std::string& text);
/// hex_decode returns nullopt for text that is not lower-case hex of even length.
std::optional<std::string> hex_decode(const std::string& hex);

std::string encode_record(const RoomRecord& record);
/// decode_record returns nullopt for a malformed or invalid record.
std::optional<RoomRecord> decode_record(const std::string& json);

}  // namespace tickcast::nats
