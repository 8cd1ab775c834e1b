use serde::{Deserialize, Serialize};

use super::{Problem, ProblemType};
use crate::ports::Cursor;

/// `?limit=&cursor=` of every list endpoint.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

impl PageParams {
    pub const DEFAULT_LIMIT: u32 = 50;
    pub const MAX_LIMIT: u32 = 200;

    pub fn limit(&self) -> Result<u32, Problem> {
        match self.limit {
            None => Ok(Self::DEFAULT_LIMIT),
            Some(n) if (1..=Self::MAX_LIMIT).contains(&n) => Ok(n),
            Some(_) => Err(Problem::new(ProblemType::ValidationFailed)
                .with_detail(format!("limit must be within 1..={}", Self::MAX_LIMIT))),
        }
    }

    pub fn cursor(&self) -> Result<Option<Cursor>, Problem> {
        self.cursor
            .as_deref()
            .map(|c| Cursor::decode(c).map_err(|_| Problem::new(ProblemType::InvalidCursor)))
            .transpose()
    }
}

/// `{"items": [...], "next_cursor": "..."}`; `next_cursor` is null on the last page.
#[derive(Debug, Serialize)]
pub struct PageResponse<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> PageResponse<T> {
    /// A page of views of `items`.
    pub fn of<U: Into<T>>(items: Vec<U>, next: Option<Cursor>) -> Self {
        Self {
            items: items.into_iter().map(Into::into).collect(),
            next_cursor: next.map(|c| c.encode()),
        }
    }
}
