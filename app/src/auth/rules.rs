//! Input rules for accounts, shared by the server (which enforces them) and
//! the browser (which shows them as you type).

pub const PASSWORD_MIN: usize = 10;
pub const PASSWORD_MAX: usize = 128;
pub const EMAIL_MAX: usize = 254;
pub const KEY_NAME_MAX: usize = 64;

/// Normalizes an email (trimmed, lowercased) or says what is wrong with it.
pub fn normalize_email(raw: &str) -> Result<String, String> {
    let email = raw.trim().to_lowercase();
    if email.is_empty() {
        return Err("enter an email address".into());
    }
    if email.len() > EMAIL_MAX {
        return Err(format!(
            "an email address has at most {EMAIL_MAX} characters"
        ));
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err("an email address needs an @".into());
    };
    if local.is_empty() || domain.is_empty() || domain.contains('@') {
        return Err("that is not an email address".into());
    }
    if !domain.contains('.') || domain.starts_with('.') || domain.ends_with('.') {
        return Err("the part after @ must be a domain such as example.com".into());
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("an email address cannot contain spaces".into());
    }
    Ok(email)
}

/// The first rule a new password breaks, if any.
pub fn password_problem(password: &str, email: &str) -> Option<String> {
    let chars = password.chars().count();
    if chars < PASSWORD_MIN {
        return Some(format!(
            "the password needs at least {PASSWORD_MIN} characters"
        ));
    }
    if chars > PASSWORD_MAX {
        return Some(format!(
            "the password can have at most {PASSWORD_MAX} characters"
        ));
    }
    let mut distinct: Vec<char> = password.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < 5 {
        return Some("the password needs at least 5 different characters".into());
    }
    let lower = password.to_lowercase();
    let local = email.trim().to_lowercase();
    let local = local.split('@').next().unwrap_or_default();
    if local.len() >= 3 && lower.contains(local) {
        return Some("the password must not contain your email name".into());
    }
    if COMMON.iter().any(|c| lower.starts_with(c)) {
        return Some("the password starts with a very common password".into());
    }
    None
}

/// A few of the most used passwords; anything starting with one is refused.
const COMMON: &[&str] = &[
    "password", "123456", "qwerty", "letmein", "welcome", "iloveyou", "admin", "abc123",
    "football", "monkey", "dragon", "111111", "passw0rd", "trustno1", "sunshine",
];

/// Validates an API key name.
pub fn key_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err("give the key a name".into());
    }
    if name.chars().count() > KEY_NAME_MAX {
        return Err(format!("a key name has at most {KEY_NAME_MAX} characters"));
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            normalize_email(" A@Example.COM ").as_deref(),
            Ok("a@example.com")
        );
        assert!(normalize_email("no-at.example.com").is_err());
        assert!(normalize_email("a@localhost").is_err());
        assert!(normalize_email("a b@example.com").is_err());
        assert!(normalize_email("").is_err());
    }

    #[test]
    fn passwords() {
        let e = "sam@example.com";
        assert!(password_problem("short", e)
            .unwrap()
            .contains("at least 10"));
        assert!(password_problem("aaaaaaaaaaaa", e)
            .unwrap()
            .contains("different"));
        assert!(password_problem("xxsam-rocks-99", e)
            .unwrap()
            .contains("email"));
        assert!(password_problem("password-123x", e)
            .unwrap()
            .contains("common"));
        assert!(password_problem(&"ab1!Z".repeat(30), e)
            .unwrap()
            .contains("at most"));
        assert_eq!(password_problem("correct horse battery", e), None);
    }
}
