// topic: implementation pending.
#include "protocol/topic.h"
