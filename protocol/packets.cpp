// packets: implementation pending.
#include "protocol/packets.h"
