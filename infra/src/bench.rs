//! What the benchmarks share: an account whose number sends at a chosen rate to opted-in
//! contacts, and the template they send.

use shared::domain::{
    AccessToken, AccountId, ApiKeyName, ApiKeySecret, BusinessName, ContactId, Email, PhoneNumber,
    PhoneNumberId, WabaId,
};
use shared::graph::messages::{Content, Language, LanguagePolicy, Template};
use shared::services::{App, ConsentInput, NewAccount, NewContact, NewNumber, NumberChanges};

/// The benchmarks' WhatsApp number (Meta's phone_number_id).
pub const NUMBER: &str = "106540352242922";

pub struct BenchAccount {
    pub account: AccountId,
    /// The first API key, for benchmarks that go through the API.
    pub api_key: ApiKeySecret,
    pub number: PhoneNumberId,
    pub contacts: Vec<ContactId>,
}

/// Signs up, connects [`NUMBER`] at `messages_per_second`, and creates `contacts` opted-in
/// contacts (+55 11 9…, distinct).
pub async fn bench_account(
    app: &App,
    contacts: usize,
    messages_per_second: u32,
) -> anyhow::Result<BenchAccount> {
    let new = NewAccount {
        business_name: BusinessName::parse("Bench")?,
        email: Email::parse("bench@example.com")?,
        default_region: None,
    };
    let (account, _, api_key) = app.signup(new, ApiKeyName::parse("bench")?).await?;
    let number = PhoneNumberId::parse(NUMBER)?;
    app.connect_number(
        &account.id,
        NewNumber {
            phone_number_id: number.clone(),
            waba_id: WabaId::parse("102290129340398")?,
            display_phone_number: PhoneNumber::from_meta("15550783881")?,
            access_token: AccessToken::parse("EAAGbenchtoken1234567890")?,
        },
    )
    .await?;
    app.update_number(
        &account.id,
        &number,
        NumberChanges {
            messages_per_second: Some(messages_per_second),
            ..Default::default()
        },
    )
    .await?;
    let mut ids = Vec::with_capacity(contacts);
    for i in 0..contacts {
        let c = NewContact {
            phone: Some(PhoneNumber::parse(
                &format!("+55119{:08}", 60_000_000 + i),
                None,
            )?),
            consent: Some(ConsentInput {
                opted_in: true,
                source: None,
                text: None,
            }),
            ..Default::default()
        };
        ids.push(app.create_contact(&account.id, c).await?.id);
    }
    Ok(BenchAccount {
        account: account.id,
        api_key,
        number,
        contacts: ids,
    })
}

/// A template without parameters, as marketing sends are.
pub fn bench_template() -> Content {
    Content::Template {
        template: Template {
            name: "bench".into(),
            language: Language {
                policy: LanguagePolicy::Deterministic,
                code: "en".into(),
            },
            components: vec![],
        },
    }
}
