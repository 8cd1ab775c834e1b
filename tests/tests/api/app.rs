//! The app's people and sessions over HTTP, on either backend: cookies and their flags,
//! logout and password changes ending sessions, login limits, CSRF, roles refused in the
//! services themselves, and every page route of another account answering 404.
//! (The flows a person clicks through are in tests/browser, in Chromium.)

use reqwest::header::{COOKIE, HOST, LOCATION, SET_COOKIE};
use reqwest::{redirect, StatusCode};
use shared::domain::{AccountId, Email, Password, Permission, Role, UserName};
use shared::ports::Key;
use shared::services::{NewAccount, Principal, ServiceError};

use crate::support::{spawn, TestApi};

const PASSWORD: &str = "correct horse battery staple";

/// A browser without a browser: keeps the cookies it is given, sends forms.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookies: Vec<(String, String)>,
}

impl Browser {
    fn new(api: &TestApi) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(redirect::Policy::none())
                .build()
                .unwrap(),
            base: api.client.base.clone(),
            cookies: Vec::new(),
        }
    }

    fn keep(&mut self, r: &reqwest::Response) {
        for v in r.headers().get_all(SET_COOKIE) {
            let v = v.to_str().unwrap();
            let (pair, _) = v.split_once(';').unwrap_or((v, ""));
            let (k, val) = pair.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != k);
            if !val.is_empty() {
                self.cookies.push((k.to_owned(), val.to_owned()));
            }
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn get(&mut self, path: &str) -> (StatusCode, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep(&r);
        (r.status(), r.text().await.unwrap())
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> (StatusCode, String) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.keep(&r);
        let location = r
            .headers()
            .get(LOCATION)
            .map(|v| v.to_str().unwrap().to_owned());
        let status = r.status();
        let body = r.text().await.unwrap();
        (status, location.unwrap_or(body))
    }

    /// The CSRF token of the form on `path`.
    async fn token(&mut self, path: &str) -> String {
        let (s, html) = self.get(path).await;
        assert_eq!(s, StatusCode::OK, "{path}: {html}");
        let at = html.find("name=\"_csrf\" value=\"").expect("a form") + 20;
        html[at..at + 64].to_owned()
    }

    async fn signup(&mut self, business: &str, email: &str) -> StatusCode {
        let t = self.token("/app/signup").await;
        let (s, _) = self
            .post(
                "/app/signup",
                &[
                    ("_csrf", &t),
                    ("business_name", business),
                    ("name", "Olivia Owner"),
                    ("email", email),
                    ("password", PASSWORD),
                ],
            )
            .await;
        s
    }

    async fn login(&mut self, email: &str, password: &str) -> StatusCode {
        let t = self.token("/app/login").await;
        let (s, _) = self
            .post(
                "/app/login",
                &[("_csrf", &t), ("email", email), ("password", password)],
            )
            .await;
        s
    }

    async fn signed_in(&mut self) -> bool {
        self.get("/app/inbox").await.0 == StatusCode::OK
    }
}

#[tokio::test]
async fn a_session_is_a_strict_cookie_that_logout_and_a_new_password_end() {
    let api = spawn().await;
    let mut b = Browser::new(&api);
    assert_eq!(
        b.signup("Bloom", "olivia@bloom.example").await,
        StatusCode::SEE_OTHER
    );
    assert!(b.signed_in().await);
    // The cookie as a browser reached over HTTPS gets it: __Host-, Secure, HttpOnly, Lax.
    let r = b
        .http
        .get(format!("{}/app/login", b.base))
        .header(HOST, "app.whatatalk.example")
        .send()
        .await
        .unwrap();
    let t = r.text().await.unwrap();
    let at = t.find("name=\"_csrf\" value=\"").unwrap() + 20;
    let pre = &t[at..at + 64];
    let r = b
        .http
        .post(format!("{}/app/login", b.base))
        .header(HOST, "app.whatatalk.example")
        .header(COOKIE, format!("__Host-wat_csrf={pre}"))
        .form(&[
            ("_csrf", pre),
            ("email", "olivia@bloom.example"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let set = r.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(set.starts_with("__Host-wat_session=acc_"), "{set}");
    for flag in ["; Path=/", "; HttpOnly", "; SameSite=Lax", "; Secure"] {
        assert!(set.contains(flag), "{set} lacks {flag}");
    }
    assert!(!set.contains("Domain="), "{set}");
    // Only the token's hash is stored: the token is nowhere in the table.
    let token = set.split(['.', ';']).nth(1).unwrap();
    let secure_session = set.split(';').next().unwrap().to_owned();
    let (s, _) = (
        b.http
            .get(format!("{}/app/inbox", b.base))
            .header(HOST, "app.whatatalk.example")
            .header(COOKIE, &secure_session)
            .send()
            .await
            .unwrap()
            .status(),
        (),
    );
    assert_eq!(s, StatusCode::OK);
    assert_eq!(token.len(), 64);

    // A second browser of the same user; a password change ends it, not the one changing.
    let mut other = Browser::new(&api);
    assert_eq!(
        other.login("olivia@bloom.example", PASSWORD).await,
        StatusCode::SEE_OTHER
    );
    assert!(other.signed_in().await);
    let t = b.token("/app/password").await;
    let new_password = "a much longer passphrase than before";
    let (s, body) = b
        .post(
            "/app/password",
            &[
                ("_csrf", &t),
                ("current_password", "not the password at all"),
                ("new_password", new_password),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("is not your current password"), "{body}");
    let (s, _) = b
        .post(
            "/app/password",
            &[
                ("_csrf", &t),
                ("current_password", PASSWORD),
                ("new_password", new_password),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(b.signed_in().await, "the session that changed it stays");
    assert!(!other.signed_in().await, "the other session ended");
    assert_eq!(
        other.login("olivia@bloom.example", PASSWORD).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        other.login("olivia@bloom.example", new_password).await,
        StatusCode::SEE_OTHER
    );

    // Logout ends the session where it is stored, not only in the browser.
    let kept = b.cookie_header();
    let t = b.token("/app/inbox").await;
    let (s, to) = b.post("/app/logout", &[("_csrf", &t)]).await;
    assert_eq!((s, to.as_str()), (StatusCode::SEE_OTHER, "/app/login"));
    let r = b
        .http
        .get(format!("{}/app/inbox", b.base))
        .header(COOKIE, kept)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "the old cookie is dead");
}

#[tokio::test]
async fn forms_without_their_token_or_from_another_site_change_nothing() {
    let api = spawn().await;
    let mut b = Browser::new(&api);
    b.signup("Bloom", "csrf@bloom.example").await;
    let t = b.token("/app/keys").await;
    for form in [
        vec![("name", "no token")],
        vec![("name", "wrong token"), ("_csrf", &"0".repeat(64))],
    ] {
        let (s, _) = b.post("/app/keys", &form).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
    }
    let r = b
        .http
        .post(format!("{}/app/keys", b.base))
        .header(COOKIE, b.cookie_header())
        .header("origin", "https://evil.example")
        .form(&[("name", "cross site"), ("_csrf", t.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Login forms need theirs too (login CSRF).
    let mut fresh = Browser::new(&api);
    let (s, _) = fresh
        .post(
            "/app/login",
            &[("email", "csrf@bloom.example"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, html) = b.get("/app/keys").await;
    assert!(!html.contains("cross site") && !html.contains("no token"));
    let (s, _) = b
        .post("/app/keys", &[("name", "real"), ("_csrf", &t)])
        .await;
    assert_eq!(s, StatusCode::CREATED);
}

/// An account and its owner, made through the service.
async fn owner_account(api: &TestApi, email: &str) -> (shared::domain::AccountId, Principal) {
    let new = NewAccount {
        business_name: shared::domain::BusinessName::parse("Roles Ltd").unwrap(),
        email: Email::parse(email).unwrap(),
        default_region: None,
    };
    let (account, owner, _) = api
        .app
        .signup_owner(
            new,
            UserName::parse("Owner").unwrap(),
            Password::parse(PASSWORD).unwrap(),
        )
        .await
        .unwrap();
    (account.id, owner.principal)
}

#[tokio::test]
async fn logins_are_limited_per_email_and_a_wrong_one_says_nothing_more() {
    let api = spawn().await;
    let (account, _) = owner_account(&api, "limited@bloom.example").await;
    let mut attacker = Browser::new(&api);
    let limit = shared::services::users::LOGINS_PER_EMAIL;
    for _ in 0..limit {
        assert_eq!(
            attacker
                .login("limited@bloom.example", "guess guess guess")
                .await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        attacker.login("limited@bloom.example", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits out the window"
    );
    // An unknown email answers as a wrong password does.
    let t = attacker.token("/app/login").await;
    let (s, body) = attacker
        .post(
            "/app/login",
            &[
                ("_csrf", &t),
                ("email", "nobody@bloom.example"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(body.contains("The email or the password is wrong."));
    // Failed logins are audited (who was tried, never the guess or the address).
    let (log, _) = api.app.audit_log(&account, 100, None).await.unwrap();
    let failed = log
        .iter()
        .filter(|e| e.action == "user_login_failed")
        .count();
    assert_eq!(failed, limit as usize);
}

/// A user invited by `by` with `role`, who accepted and is signed in.
async fn joined(
    app: &shared::services::App,
    by: &Principal,
    email: &str,
    role: Role,
) -> shared::services::SignedIn {
    let (_, link) = app
        .invite(by, Email::parse(email).unwrap(), role)
        .await
        .unwrap();
    let name = UserName::parse(email.split('@').next().unwrap()).unwrap();
    app.accept_invitation(&link, name, Password::parse(PASSWORD).unwrap())
        .await
        .unwrap()
        .0
}

#[tokio::test]
async fn agents_are_refused_by_the_services_not_only_the_pages() {
    let api = spawn().await;
    let app = &api.app;
    let (account, owner) = owner_account(&api, "owner@roles.example").await;
    let agent = joined(app, &owner, "agent@roles.example", Role::Agent).await;
    let a: &Principal = &agent.principal;
    assert_eq!(a.role, Role::Agent);
    let forbidden = |r: Result<(), ServiceError>, what: Permission| match r {
        Err(ServiceError::Forbidden(p)) => assert_eq!(p, what),
        other => panic!("{what:?}: {other:?}"),
    };
    forbidden(
        app.create_api_key(a, shared::domain::ApiKeyName::parse("x").unwrap())
            .await
            .map(|_| ()),
        Permission::ManageKeys,
    );
    forbidden(
        app.invite(a, Email::parse("x@roles.example").unwrap(), Role::Agent)
            .await
            .map(|_| ()),
        Permission::ManageUsers,
    );
    forbidden(
        app.request_export(a, None).await.map(|_| ()),
        Permission::ManageExports,
    );
    forbidden(
        app.close_account(a, "DELETE").await.map(|_| ()),
        Permission::CloseAccount,
    );
    forbidden(
        app.update_billing_details(a, Default::default())
            .await
            .map(|_| ()),
        Permission::ManageBilling,
    );
    forbidden(
        app.update_account(a, Default::default()).await.map(|_| ()),
        Permission::ManageAccount,
    );
    forbidden(
        app.accept_policy(a, &app.policy.version).await.map(|_| ()),
        Permission::ManageAccount,
    );
    forbidden(
        app.checkout_link(a, "starter").map(|_| ()),
        Permission::ManageBilling,
    );
    let number = shared::services::NewNumber {
        phone_number_id: shared::domain::PhoneNumberId::parse("106540352242922").unwrap(),
        waba_id: shared::domain::WabaId::parse(infra::standin::DEMO_WABA_ID).unwrap(),
        display_phone_number: None,
        access_token: shared::domain::AccessToken::parse(infra::standin::DEMO_TOKEN).unwrap(),
    };
    forbidden(
        app.connect_number_by(a, number).await.map(|_| ()),
        Permission::ManageNumbers,
    );
    // An admin may do all of it but close the account.
    let admin = joined(app, &owner, "admin@roles.example", Role::Admin).await;
    app.create_api_key(
        &admin.principal,
        shared::domain::ApiKeyName::parse("ok").unwrap(),
    )
    .await
    .unwrap();
    forbidden(
        app.close_account(&admin.principal, "DELETE")
            .await
            .map(|_| ()),
        Permission::CloseAccount,
    );
    // Role changes are audited and end the user's sessions.
    app.set_role(&owner, &agent.session.user_id, Role::Admin)
        .await
        .unwrap();
    let users = app.users(&account).await.unwrap();
    assert_eq!(users.len(), 3);
    let (log, _) = app.audit_log(&account, 100, None).await.unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    for a in ["user_invited", "user_joined", "user_role_changed"] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    // Users are personal data: sealed in the table, in the inventory.
    let inventory = app.inventory(&account).await.unwrap();
    assert_eq!(inventory.held.unwrap().users, 3);
}

#[tokio::test]
async fn an_invitation_works_once_and_not_for_an_email_that_has_a_login() {
    let api = spawn().await;
    let mut owner = Browser::new(&api);
    owner.signup("Bloom", "owner@once.example").await;
    let t = owner.token("/app/users").await;
    let (s, _) = owner
        .post(
            "/app/users/invitations",
            &[
                ("_csrf", &t),
                ("email", "owner@once.example"),
                ("role", "agent"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "that email has a login");
    let (s, html) = owner
        .post(
            "/app/users/invitations",
            &[
                ("_csrf", &t),
                ("email", "new@once.example"),
                ("role", "agent"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let at = html.find("/app/join/").unwrap();
    let end = html[at..].find('"').unwrap();
    let link = html[at..at + end].to_owned();
    let mut agent = Browser::new(&api);
    let t = agent.token(&link).await;
    let (s, _) = agent
        .post(
            &link,
            &[("_csrf", &t), ("name", "New"), ("password", "short")],
        )
        .await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "15 characters at least"
    );
    let (s, to) = agent
        .post(
            &link,
            &[("_csrf", &t), ("name", "New"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!((s, to.as_str()), (StatusCode::SEE_OTHER, "/app/inbox"));
    assert!(agent.signed_in().await);
    let mut again = Browser::new(&api);
    let (s, _) = again.get(&link).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn every_page_of_another_account_answers_404() {
    let api = spawn().await;
    // B: a conversation (an inbound message), an invitation, a user.
    let b = api.signup("Tenant B", "b@pages.example").await;
    api.connect_number(&b, "222000222", "EAAGtenantBtoken123456")
        .await;
    let b_contact = api
        .post(
            "/v1/contacts",
            &b.key,
            serde_json::json!({"phone": "+447911123456", "name": "B's customer"}),
        )
        .await
        .1["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b_account: shared::domain::AccountId = b.account_id.parse().unwrap();
    let b_owner = Principal::system(b_account.clone());
    let b_user = joined(&api.app, &b_owner, "someone@pages.example", Role::Agent).await;

    let b_export = api
        .post("/v1/exports", &b.key, serde_json::json!({}))
        .await
        .1["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let b_broadcast = api
        .post(
            "/v1/broadcasts",
            &b.key,
            serde_json::json!({"from": "222000222", "recipients": {"tags": ["vip"]},
                "template": {"name": "hello", "language": {"policy": "deterministic", "code": "en"}}}),
        )
        .await
        .1["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let b_import = api
        .post("/v1/contacts/imports", &b.key, serde_json::json!({}))
        .await
        .1["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let b_endpoint = api
        .post(
            "/v1/webhook-endpoints",
            &b.key,
            serde_json::json!({"url": "https://hooks.tenant-b.example/in", "events": ["contact.created"]}),
        )
        .await
        .1["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut a = Browser::new(&api);
    a.signup("Tenant A", "a@pages.example").await;
    let t = a.token("/app/inbox").await;
    let mut visited = 0;
    for (method, template) in api::pages::served() {
        if !template.contains('{') || template.starts_with("/app/join/") {
            continue;
        }
        let path = template
            .replace("{contact_id}", &b_contact)
            .replace("{user_id}", &b_user.session.user_id.to_string())
            .replace("{media_id}", "880001")
            .replace("{export_id}", &b_export)
            .replace("{broadcast_id}", &b_broadcast)
            .replace("{import_id}", &b_import)
            .replace("{endpoint_id}", &b_endpoint)
            .replace("{phone_number_id}", "222000222")
            .replace("{key_id}", &b.key_id);
        assert!(
            !path.contains('{'),
            "teach this test an id of B's for {template}"
        );
        let (s, body) = match method {
            "GET" => a.get(&path).await,
            _ => {
                a.post(
                    &path,
                    &[
                        ("_csrf", t.as_str()),
                        ("text", "x"),
                        ("user_id", ""),
                        ("role", "admin"),
                        ("template_id", "1"),
                        ("enabled", "false"),
                        ("since", "0"),
                    ],
                )
                .await
            }
        };
        assert_eq!(s, StatusCode::NOT_FOUND, "{method} {path}: {body}");
        assert!(!body.contains("B's customer") && !body.contains("Tenant B"));
        visited += 1;
    }
    assert!(visited >= 8, "{visited}");
    // A's invitation links are A's: B's works only as itself, and a forged one is not found.
    let forged = format!("/app/join/{}.{}", b.account_id, "f".repeat(64));
    assert_eq!(a.get(&forged).await.0, StatusCode::NOT_FOUND);
    // B's user still holds its role, and B's conversation has no note from A.
    let users = api.app.users(&b_account).await.unwrap();
    assert!(users.iter().all(|u| u.role != Role::Admin));
}

#[tokio::test]
async fn the_inbox_pages_on_through_its_shards_and_filters_by_assignee() {
    let api = spawn().await;
    let app = &api.app;
    let new = NewAccount {
        business_name: shared::domain::BusinessName::parse("Busy Ltd").unwrap(),
        email: Email::parse("owner@busy.example").unwrap(),
        default_region: None,
    };
    let (account, owner, cookie) = app
        .signup_owner(
            new,
            UserName::parse("Owner").unwrap(),
            Password::parse(PASSWORD).unwrap(),
        )
        .await
        .unwrap();
    crate::support::owns(
        &api.standin,
        "333000333",
        "+15550783881",
        "EAAGbusytoken1234567",
    );
    let number = shared::services::NewNumber {
        phone_number_id: shared::domain::PhoneNumberId::parse("333000333").unwrap(),
        waba_id: shared::domain::WabaId::parse(infra::standin::DEMO_WABA_ID).unwrap(),
        display_phone_number: None,
        access_token: shared::domain::AccessToken::parse("EAAGbusytoken1234567").unwrap(),
    };
    let number = app.connect_number(&account.id, number).await.unwrap();
    let mut contacts = Vec::new();
    for i in 0..60 {
        let c = shared::services::NewContact {
            phone: Some(shared::domain::PhoneNumber::from_meta(&format!("4479112{i:05}")).unwrap()),
            ..Default::default()
        };
        contacts.push(app.create_contact(&account.id, c).await.unwrap().id);
    }
    shared::testing::seed_conversations(app, &account.id, &number.phone_number_id, &contacts)
        .await
        .unwrap();
    let mut b = Browser::new(&api);
    b.cookies
        .push(("wat_session".into(), cookie.expose().to_owned()));
    let (s, first) = b.get("/app/inbox").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(first.matches("<li class=\"conversation").count(), 50);
    // Newest first: the last seeded contact heads the list.
    let newest = first.find(&contacts[59].to_string()).unwrap();
    assert!(newest < first.find(&contacts[10].to_string()).unwrap());
    let at = first
        .find("href=\"/app/inbox?before=")
        .expect("a link to older ones")
        + 6;
    let end = first[at..].find('"').unwrap();
    let (s, older) = b.get(&first[at..at + end]).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(older.matches("<li class=\"conversation").count(), 10);
    assert!(older.contains(&contacts[0].to_string()) && !older.contains("before="));

    // The inbox is spread over index shards, and some conversations are still where they were
    // indexed before it was: pages of 7 go through every conversation once, newest first.
    for c in &contacts[20..25] {
        let key = shared::records::conversation::key(&account.id, c);
        let item = app.items.get(&key).await.unwrap().unwrap();
        let before = Key::new(
            shared::table::conversations(&account.id),
            item.gsi1.unwrap().sk,
        );
        let moved = shared::ports::Update::new(key).index(Some(before));
        app.items.update(moved).await.unwrap();
    }
    let (mut seen, mut cursor) = (Vec::new(), None);
    loop {
        let (page, next) = app.conversations(&account.id, 7, cursor).await.unwrap();
        assert!(page.len() <= 7 && (next.is_none() || !page.is_empty()));
        seen.extend(page.into_iter().map(|c| c.contact_id));
        match next {
            Some(n) => cursor = Some(shared::ports::Cursor::decode(&n.encode()).unwrap()),
            None => break,
        }
    }
    assert_eq!(seen, contacts.iter().rev().cloned().collect::<Vec<_>>());
    // Another tenant's cursor, or any other list's, is refused.
    let foreign = shared::records::conversation::places(&AccountId::generate()).cursor_at("01J");
    assert!(app
        .conversations(&account.id, 7, Some(foreign))
        .await
        .is_err());

    // Assigned to me: it leaves Unassigned and is all of Mine.
    let t = b.token("/app/inbox").await;
    let (s, _) = b
        .post(
            &format!("/app/inbox/{}/assign", contacts[3]),
            &[
                ("_csrf", &t),
                ("user_id", &owner.session.user_id.to_string()),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, mine) = b.get("/app/inbox?filter=mine").await;
    assert_eq!(mine.matches("<li class=\"conversation").count(), 1);
    assert!(mine.contains(&contacts[3].to_string()));
    let (_, unassigned) = b.get("/app/inbox?filter=unassigned").await;
    assert!(!unassigned.contains(&format!("/app/inbox/{}?", contacts[3])));
    assert!(!unassigned.contains(&format!("/app/inbox/{}\"", contacts[3])));
    // The API shows the assignee too.
    let view = app.conversation(&account.id, &contacts[3]).await.unwrap();
    assert_eq!(view.assignee.as_ref(), Some(&owner.session.user_id));
    // A filtered list pages on by place too: pages of 2 through six assigned conversations.
    let me = &owner.session.user_id;
    for i in [10, 22, 31, 50, 59] {
        let assign = shared::records::conversation::assign(&account.id, &contacts[i], Some(me));
        app.items.update(assign).await.unwrap();
    }
    let mine = shared::records::conversation::Filter::AssignedTo(me);
    let (mut seen, mut cursor) = (Vec::new(), None);
    loop {
        let (page, next) = app
            .conversations_where(&account.id, &mine, 2, cursor)
            .await
            .unwrap();
        seen.extend(page.into_iter().map(|c| c.contact_id));
        match next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    let want: Vec<_> = [59, 50, 31, 22, 10, 3].map(|i| contacts[i].clone()).into();
    assert_eq!(seen, want);
}

#[tokio::test]
async fn a_changed_policy_shows_a_banner_to_owners_and_admins_until_one_accepts() {
    let api = spawn().await;
    let mut owner = Browser::new(&api);
    owner.signup("Bloom", "owner@policy.example").await;
    let banner = "Our privacy policy has changed";
    let (_, html) = owner.get("/app/inbox").await;
    assert!(
        !html.contains(banner),
        "signing up accepted the version in force"
    );
    let session = &owner
        .cookies
        .iter()
        .find(|(k, _)| k == "wat_session")
        .unwrap()
        .1;
    let account: shared::domain::AccountId = session.split('.').next().unwrap().parse().unwrap();
    // The policy changed since: the account accepted an older version.
    api.app
        .items
        .update(shared::records::account::accept_policy(
            &account,
            "2020-01-01",
            shared::domain::now(),
        ))
        .await
        .unwrap();
    let agent = joined(
        &api.app,
        &Principal::system(account.clone()),
        "agent@policy.example",
        Role::Agent,
    )
    .await;
    let (_, html) = owner.get("/app/contacts").await;
    assert!(html.contains(banner), "{html}");
    let version = api.app.policy.version.clone();
    assert!(html.contains(&format!("Accept version {version}")));
    // The policy's own page shows the text and its version to everyone signed in.
    let (s, html) = owner.get("/app/privacy/policy").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains(&format!("Version {version}")) && html.contains("Who else sees it"));
    // An agent sees no banner and may not accept for the account.
    let mut agent_browser = Browser::new(&api);
    agent_browser.login("agent@policy.example", PASSWORD).await;
    let (s, html) = agent_browser.get("/app/inbox").await;
    assert_eq!(s, StatusCode::OK);
    assert!(!html.contains(banner));
    let refused = api.app.accept_policy(&agent.principal, &version).await;
    assert!(matches!(refused, Err(ServiceError::Forbidden(_))));
    // The owner accepts from the banner: it goes, and the acceptance is audited.
    let t = owner.token("/app/contacts").await;
    let (s, to) = owner
        .post(
            "/app/privacy/accept",
            &[("_csrf", &t), ("version", &version)],
        )
        .await;
    assert_eq!(
        (s, to.as_str()),
        (StatusCode::SEE_OTHER, "/app/privacy/policy")
    );
    let (_, html) = owner.get("/app/contacts").await;
    assert!(!html.contains(banner));
    let (log, _) = api.app.audit_log(&account, 50, None).await.unwrap();
    assert!(log.iter().any(|e| e.action == "policy_accepted"));
}
