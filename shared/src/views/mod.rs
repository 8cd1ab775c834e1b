//! The JSON shapes of the API's resources: one shape per concept, used by the API's handlers
//! and by the export, so an export says exactly what the API says.

pub mod api_key;
pub mod broadcast;
pub mod contact;
pub mod message;
pub mod number;
pub mod template;
pub mod user;

pub use api_key::ApiKeyView;
pub use broadcast::{BroadcastView, RecipientView, RecipientsView};
pub use contact::{ConsentRecordView, ConsentView, ContactView, OptOutView};
pub use message::MessageView;
pub use number::{NumberView, StoppedView};
pub use template::TemplateView;
pub use user::{NoteView, UserView};
