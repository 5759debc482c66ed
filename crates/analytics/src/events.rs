//! The events analytics publishes: none. Analytics only reads other services' events (and
//! answers queries); it changes nothing anyone else needs to hear about.
