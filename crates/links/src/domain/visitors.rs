//! What a visit record keeps of a visitor: the address anonymized before storage (IPv4 last
//! octet, IPv6 last 80 bits zeroed), the referrer's host only, and the user agent reduced
//! to browser family, OS family, device class and a bot flag (woothee's parser).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The user agent, reduced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Agent {
    /// Browser family, e.g. "Firefox"; "unknown" when unparsed.
    pub browser: String,
    /// OS family, e.g. "Android", "iOS", "Windows"; "unknown" when unparsed.
    pub os: String,
    /// "desktop", "mobile", "tablet" or "unknown".
    pub device_class: &'static str,
    /// A known crawler or bot.
    pub bot: bool,
}

/// Reduces a User-Agent header (at most 512 characters are read).
pub fn agent(user_agent: &str) -> Agent {
    let user_agent: String = user_agent.chars().take(512).collect();
    let unknown = |value: &str| {
        if value.is_empty() || value == "UNKNOWN" {
            "unknown".to_string()
        } else {
            value.to_string()
        }
    };
    let Some(parsed) = woothee::parser::Parser::new().parse(&user_agent) else {
        return Agent {
            browser: "unknown".into(),
            os: "unknown".into(),
            device_class: "unknown",
            bot: false,
        };
    };
    let os = match parsed.os {
        windows if windows.starts_with("Windows") => "Windows".to_string(),
        "Mac OSX" => "macOS".to_string(),
        "iPhone" | "iPad" | "iPod" => "iOS".to_string(),
        other => unknown(other),
    };
    let tablet = parsed.os == "iPad" || (parsed.os == "Android" && !user_agent.contains("Mobile"));
    let device_class = match parsed.category {
        "crawler" => "unknown",
        _ if tablet => "tablet",
        "pc" => "desktop",
        "smartphone" | "mobilephone" => "mobile",
        _ => "unknown",
    };
    Agent {
        browser: unknown(parsed.name),
        os,
        device_class,
        bot: parsed.category == "crawler",
    }
}

/// The address as stored: IPv4 with its last octet zeroed, IPv6 keeping only its first 48
/// bits (an IPv4-mapped IPv6 address is treated as the IPv4 one).
pub fn anonymize(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            IpAddr::V4(Ipv4Addr::new(a, b, c, 0))
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => anonymize(IpAddr::V4(v4)),
            None => {
                let [a, b, c, ..] = v6.segments();
                IpAddr::V6(Ipv6Addr::new(a, b, c, 0, 0, 0, 0, 0))
            }
        },
    }
}

/// The host of a Referer header, lowercase; empty when there is none or it does not parse.
pub fn referrer_host(referrer: &str) -> String {
    url::Url::parse(referrer.trim())
        .ok()
        .and_then(|url| url.host_str().map(str::to_ascii_lowercase))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agents_reduce_to_families_devices_and_bots() {
        let cases = [
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
                "Firefox",
                "Windows",
                "desktop",
                false,
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
                "Safari",
                "macOS",
                "desktop",
                false,
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
                "Safari",
                "iOS",
                "mobile",
                false,
            ),
            (
                "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
                "Safari",
                "iOS",
                "tablet",
                false,
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
                "Chrome",
                "Android",
                "mobile",
                false,
            ),
            (
                "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
                "Googlebot",
                "unknown",
                "unknown",
                true,
            ),
        ];
        for (user_agent, browser, os, device, bot) in cases {
            let agent = agent(user_agent);
            assert_eq!(
                (
                    agent.browser.as_str(),
                    agent.os.as_str(),
                    agent.device_class,
                    agent.bot
                ),
                (browser, os, device, bot),
                "{user_agent}"
            );
        }
        assert_eq!(agent("").browser, "unknown");
        assert_eq!(agent(&"x".repeat(10_000)).device_class, "unknown");
    }

    #[test]
    fn addresses_lose_their_host_part() {
        let cases = [
            ("203.0.113.77", "203.0.113.0"),
            ("2001:db8:85a3:1234:5678:8a2e:370:7334", "2001:db8:85a3::"),
            ("::ffff:198.51.100.9", "198.51.100.0"),
        ];
        for (address, stored) in cases {
            assert_eq!(anonymize(address.parse().unwrap()).to_string(), stored);
        }
        assert_eq!(
            referrer_host("https://Mail.Example.com/inbox?id=1"),
            "mail.example.com"
        );
        assert_eq!(referrer_host("android-app://com.slack"), "com.slack");
        assert_eq!(referrer_host(""), "");
    }
}
