// Replaced by the ApiServer sources.
