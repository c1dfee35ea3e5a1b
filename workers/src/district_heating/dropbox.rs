//! The exchange over Dropbox: the client's four operations.

use anyhow::Result;
use hemflux_clients::dropbox::DropboxClient;

use super::Exchange;

impl Exchange for DropboxClient {
    fn describe(&self) -> String {
        DropboxClient::describe(self)
    }

    async fn list(&mut self) -> Result<Vec<String>> {
        Ok(DropboxClient::list(self).await?)
    }

    async fn download(&mut self, name: &str) -> Result<Vec<u8>> {
        Ok(DropboxClient::download(self, name).await?)
    }

    async fn upload(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        Ok(DropboxClient::upload(self, name, bytes).await?)
    }

    async fn delete(&mut self, name: &str) -> Result<()> {
        Ok(DropboxClient::delete(self, name).await?)
    }
}
