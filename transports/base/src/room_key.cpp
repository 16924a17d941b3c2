#include "tickcast/transport/room_key.h"

namespace tickcast {

bool valid_room_name(std::string_view room) {
  if (room.empty() || room.size() > 64) return false;
  for (const char c : room) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace tickcast
